"""Export a run as a short standalone torch script that reproduces it with `genmodels`.

The script spells out the training loop the Trainer runs (same seeds, same batches,
same optimiser steps), so a student can read it top to bottom and change it; a
test checks that it reproduces the Trainer's numbers.
"""

from __future__ import annotations

from ..setup import Setup

MAX_EMBEDDED_CSV = 200_000  # characters of CSV points written into the script itself

TEMPLATE = '''\
"""{title}

Reproduces a genmodels playground run: {model} on {data_about}, {steps} steps.
Run it from a checkout of the genmodels project (or with genmodels importable):
    python {filename}
"""

import json

import numpy
import torch

from genmodels.evaluation.metrics import evaluate
from genmodels.setup import Setup
from genmodels.training.rng import Streams, building_with
{imports}
SETUP = {query}
setup = Setup.from_query(SETUP)
{load_data}
x_train = torch.as_tensor(data.train)

streams = Streams.from_seed(setup.train.seed, torch.device("cpu"))  # the run's own random generators
with building_with(streams.init):  # torch's layers draw their initial weights from the run's generator
    model = setup.build_model(data)  # {model}: {config}
model.use_rng(streams.torch)  # every draw of the model (noise, eps, dequantisation) and the batches
model.init_from_data(x_train[:4096])
optimizers = model.configure_optimizers(setup.train.lr)  # one optimiser per phase, e.g. D and G of a GAN

for step in range(1, setup.train.steps + 1):
    for phase in model.phases():  # a likelihood model has one phase; a GAN has the critic's and the generator's
        for _ in range(phase.repeats):
            x = x_train[torch.randint(len(x_train), (setup.train.batch_size,), generator=streams.torch)]
            losses = model.loss(x, phase.name)
            optimizers[phase.name].zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizers[phase.name].step()
            model.after_step(phase.name)
    if step % {print_every} == 0 or step == setup.train.steps:
        print(step, phase.name, {{k: round(v.item(), 4) for k, v in losses.items()}})

with torch.no_grad():
    samples = model.sample(1000)
numpy.savetxt("samples.csv", samples.cpu().numpy(), delimiter=",", fmt="%.6g")
print(json.dumps({{"setup": {{**setup.to_query(), "data": data.name}}, "steps": setup.train.steps,
                  **evaluate(model, data)}}))
'''


def script(setup: Setup, title: str = "A genmodels run", csv_text: str | None = None,
           filename: str = "genmodels_run.py") -> str:
    """Python source that retrains `setup` from scratch and prints its final metrics as JSON.

    `csv_text`: the user's CSV of 2D points when the run trained on one (embedded when
    small, otherwise read from `points.csv` beside the script).
    """
    query = {k: v for k, v in setup.to_query().items() if k != "data" or csv_text is None}
    return TEMPLATE.format(
        title=title.replace('"""', "'''"),
        model=setup.model,
        data_about="your CSV points" if csv_text is not None else f"the {setup.data} dataset",
        steps=setup.train.steps,
        filename=filename,
        imports="from genmodels.data import load_csv\n" if csv_text is not None else "",
        query=_dict_literal(query),
        load_data=_load_data(csv_text),
        config=", ".join(f"{k}={v!r}" for k, v in vars(setup.model_config).items()) or "defaults",
        print_every=max(1, setup.train.steps // 20),
    )


def _dict_literal(query: dict[str, str]) -> str:
    lines = [f"    {k!r}: {v!r}," for k, v in query.items()]
    return "{\n" + "\n".join(lines) + "\n}"


def _load_data(csv_text: str | None) -> str:
    if csv_text is None:
        return "data = setup.load_data()"
    if len(csv_text) <= MAX_EMBEDDED_CSV:
        return f"POINTS = {csv_text!r}\ndata = load_csv(POINTS)  # standardised, split 90/10 as in the app"
    return 'data = load_csv(open("points.csv").read())  # your CSV, standardised and split 90/10 as in the app'
