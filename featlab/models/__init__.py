"""Model families. ``REGISTRY`` maps a model config's ``kind`` to its :class:`Family`
(:mod:`featlab.models.family`); add a family with :func:`register_family`."""

from featlab.models import (centered, cnn, contrastive_encoders, embedding_attention,
                            linear_attention, mlp, resnet, signgd_transformer, softmax_attention,
                            tied_denoiser, token_attention)
from featlab.models.activations import activation_pair
from featlab.models.cnn import init_params, loss_and_grad, loss_autograd
from featlab.models.family import FAMILIES, Family, family_of, register_family

__all__ = ["activation_pair", "init_params", "loss_and_grad", "loss_autograd", "REGISTRY",
           "Family", "register_family", "family_of"]

register_family(cnn.FAMILY)
register_family(mlp.FAMILY)
register_family(centered.FAMILY)
register_family(token_attention.FAMILY)
register_family(linear_attention.FAMILY)
register_family(softmax_attention.FAMILY)
register_family(resnet.FAMILY)
register_family(tied_denoiser.FAMILY)
register_family(contrastive_encoders.FAMILY)
register_family(embedding_attention.FAMILY)
register_family(signgd_transformer.FAMILY)

#: kind -> Family (the same dict as ``featlab.models.family.FAMILIES``).
REGISTRY = FAMILIES
