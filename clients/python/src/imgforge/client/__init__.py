"""Hand-written helpers over the generated `imgforge.v1` stubs."""

from imgforge.client.cover import CoverFailedError, generate_cover
from imgforge.client.inputs import image_input, upload_input
from imgforge.client.signing import Credentials, SigningInterceptor, signed_headers

__all__ = [
    "CoverFailedError",
    "Credentials",
    "SigningInterceptor",
    "generate_cover",
    "image_input",
    "signed_headers",
    "upload_input",
]
