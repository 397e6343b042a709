"""MLflow "models from code" entry of the raw-bars model (updown.serve.serving.RawBarsModel).

MLflow runs this file when it loads the model, so the logged model holds source code and a
LightGBM text file, never a pickled Python object.
"""

from mlflow.models import set_model

from updown.serve.serving import RawBarsModel

set_model(RawBarsModel())
