"""Classify handwritten digits: scikit-learn's bundled digits data, no download needed.

    jupyter pipelines run examples/digits.py
"""
from jupyter_pipelines import Output, Pipeline, operation


@operation(outputs=("images", "labels"))
def load_digits():
    from sklearn import datasets

    digits = datasets.load_digits()
    print(f"loaded {len(digits.images)} images of {digits.images.shape[1:]} pixels")
    return digits.data, digits.target


@operation(outputs=("train_x", "test_x", "train_y", "test_y"))
def split(images, labels, test_fraction: float = 0.25, seed: int = 0):
    from sklearn.model_selection import train_test_split

    parts = train_test_split(images, labels, test_size=test_fraction, random_state=seed, stratify=labels)
    print(f"train: {len(parts[0])} images, test: {len(parts[1])} images")
    return tuple(parts)


@operation(outputs=("model",))
def train(train_x, train_y, gamma: float = 0.001, c: float = 10.0):
    from sklearn.svm import SVC

    model = SVC(gamma=gamma, C=c).fit(train_x, train_y)
    print(f"trained {model}")
    return model


@operation(outputs=("metrics",))
def evaluate(model, test_x, test_y):
    from sklearn.metrics import accuracy_score, confusion_matrix

    predicted = model.predict(test_x)
    metrics = {
        "accuracy": float(accuracy_score(test_y, predicted)),
        "confusion": confusion_matrix(test_y, predicted).tolist(),
        "test_size": int(len(test_y)),
    }
    print(f"accuracy: {metrics['accuracy']:.4f}")
    return metrics


with Pipeline("digits", project="examples") as digits:
    images, labels = load_digits()
    train_x, test_x, train_y, test_y = split(images, labels, test_fraction=0.25)
    model = train(train_x, train_y, gamma=0.001)
    metrics = evaluate(model, test_x, test_y)
    Output(model, name="digits-model")
    Output(metrics, name="digits-metrics")


if __name__ == "__main__":
    execution = digits.run(wait=True)
    print(execution, execution.result("evaluate", "metrics")["accuracy"])
