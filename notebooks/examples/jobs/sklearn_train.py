"""Train a scikit-learn classifier on the digits data set (shipped with scikit-learn), log its
parameters and metrics, and save the fitted model as an artifact of the run."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

import hanzo_ml_lab as ml


def main() -> None:
    # Defaults, then the job's params. Those are already params of the run (write-once), so they
    # are logged back as given — C=1 stays "1" rather than becoming a conflicting "1.0".
    hp = {"C": 1.0, "max_iter": 200} | ml.params()
    ml.log_params({**hp, "model": "LogisticRegression"})
    c, max_iter = float(hp["C"]), int(hp["max_iter"])

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.25,
                                                        random_state=0)
    model = LogisticRegression(C=c, max_iter=max_iter)
    model.fit(x_train, y_train)
    pred = model.predict(x_test)
    acc = accuracy_score(y_test, pred)
    ml.log_metrics({"accuracy": acc, "f1_macro": f1_score(y_test, pred, average="macro")})

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        path.write_bytes(pickle.dumps(model))
        uri = ml.log_artifact(path)
    print(f"accuracy {acc:.4f}; model saved to {uri}")


if __name__ == "__main__":
    main()
