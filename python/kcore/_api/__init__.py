"""The Keras 2 backend API, one module per family. Importing this package registers every op
(kcore/_ops.py); each module also lists in PUBLIC its plain functions (config, state, values:
no kernels, the same in every backend). kcore/backends.py builds the backends from both."""
from kcore._api import (
                        config,
                        conv,
                        ctc,
                        elementwise,
                        grad,
                        layout,
                        linalg,
                        loops,
                        nn,
                        reduce,
                        scan,
                        shape,
                        state,
                        values,
)

FAMILIES = (config, state, values, reduce, scan, layout, linalg, elementwise, nn, conv, shape, grad, loops, ctc)
