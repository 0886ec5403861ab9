"""The optional compiled kernel (everything else is in pyproject.toml).

``optional=True``: where it cannot be built (no C compiler), the install goes on and the
numpy version of the same kernel runs; results are the same to the last bit.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "xent_cli.kernels._native",
            ["xent_cli/kernels/_native.c"],
            # (no fused multiply-add: exp's steps round as numpy's do, on every target)
            extra_compile_args=["-ffp-contract=off"],
            optional=True,
        )
    ]
)
