"""Chapter 9a's two trained models, a training step each in the NumPy engine and in PyTorch: the date translator and TransE.

Chapter 9a trains an encoder-decoder Transformer that translates ISO dates into English
(``labs.models.seq2seq.Seq2Seq``) and a TransE knowledge-graph embedding
(``labs.models.transe.TransE``), both in PyTorch, and checks each against its NumPy twin
(``labs.scratch.models.seq2seq``, ``labs.scratch.models.transe``). This script times one
training step of each, twin against twin, on the same float32 weights and the same batches,
timed in alternation (``timing.interleaved``): the translator's step as the chapter runs it
(cross-entropy on the target characters, backward, AdamW) and TransE's as
``labs.kg.train_transe`` runs it (a batch of true triples, each corrupted at its head or its
tail, the margin loss, backward, Adam, then the entities put back on the unit sphere). Each at
the chapter's size and at a larger one.

    python benchmarks/text_twins_speed.py            # prints the table, writes results_text_twins.md
    python benchmarks/text_twins_speed.py --quick    # the chapter's sizes, few rounds (a smoke test)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

CHAPTERS = ("9a",)  # whose claims this measures (benchmarks/run_all.py indexes the page by them)
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_text_twins.md"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from timing import interleaved, machine_line  # noqa: E402

# the chapter's translator (09a, section on translation) and a wider one
TRANSLATORS = {"the chapter's translator": dict(n_layer=1, n_head=2, n_embd=32),
               "a wider translator": dict(n_layer=2, n_head=4, n_embd=128)}
TRANSLATOR_BATCH, TRANSLATOR_LR = 64, 4e-3
# the chapter's graph and embedding (train_transe's defaults for the batch), and a larger one
GRAPHS = {"the chapter's graph": (dict(n_countries=24, cities_per_country=6), 32),
          "a larger graph": (dict(n_countries=200, cities_per_country=10), 128)}
TRANSE_BATCH, TRANSE_LR = 256, 0.05


def translator_steps(torch, sizes: dict) -> tuple[dict, int]:
    import labs.scratch as st
    from labs.data.dates import DateTask, date_pairs
    from labs.models.seq2seq import Seq2Seq, Seq2SeqConfig
    from labs.scratch.models import seq2seq as numpy_seq2seq

    task = DateTask()
    src, tgt_in, tgt_out = task.encode(date_pairs(1000, seed=0))
    config = Seq2SeqConfig(task.src_vocab_size, task.tgt_vocab_size, task.src_block_size, task.tgt_block_size, **sizes)
    torch.manual_seed(0)
    model = Seq2Seq(config)
    twin = numpy_seq2seq.Seq2Seq(config)
    twin.load_state_dict({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
    opt = torch.optim.AdamW(model.parameters(), lr=TRANSLATOR_LR)
    twin_opt = st.optim.AdamW(twin.parameters(), lr=TRANSLATOR_LR)
    V = task.tgt_vocab_size
    rngs = {"PyTorch": np.random.default_rng(0), "NumPy": np.random.default_rng(0)}  # the same batches in both

    def torch_step():
        b = rngs["PyTorch"].integers(0, len(src), TRANSLATOR_BATCH)
        logits = model(torch.from_numpy(src[b]), torch.from_numpy(tgt_in[b]))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.from_numpy(tgt_out[b]).reshape(-1),
                                                 ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def numpy_step():
        b = rngs["NumPy"].integers(0, len(src), TRANSLATOR_BATCH)
        logits = twin(st.tensor(src[b]), st.tensor(tgt_in[b]))
        loss = st.F.cross_entropy(logits.reshape(-1, V), st.tensor(tgt_out[b]).reshape(-1), ignore_index=-100)
        twin_opt.zero_grad()
        loss.backward()
        twin_opt.step()

    return {"PyTorch": torch_step, "NumPy": numpy_step}, sum(p.numel() for p in model.parameters())


def transe_steps(torch, graph_sizes: dict, dim: int) -> tuple[dict, int]:
    import labs.scratch as st
    from labs.kg import geography_graph, split_triples
    from labs.models.transe import TransE, margin_loss
    from labs.scratch.models import transe as numpy_transe

    graph = geography_graph(**graph_sizes, seed=0)
    train, _ = split_triples(graph.triples, 0.2, seed=0)
    E, R = graph.num_entities, graph.num_relations
    torch.manual_seed(0)
    model = TransE(E, R, dim, p=2)
    twin = numpy_transe.TransE(E, R, dim, p=2)
    twin.load_state_dict({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
    opt = torch.optim.Adam(model.parameters(), lr=TRANSE_LR)
    twin_opt = st.optim.Adam(twin.parameters(), lr=TRANSE_LR)
    rngs = {"PyTorch": np.random.default_rng(0), "NumPy": np.random.default_rng(0)}

    def batches(rng):
        # labs.kg.train_transe's corruption: replace the head or the tail (a fair coin) by a random entity
        batch = train[rng.integers(0, len(train), min(TRANSE_BATCH, len(train)))]
        corrupted = batch.copy()
        replace_head = rng.random(len(batch)) < 0.5
        corrupted[:, 0] = np.where(replace_head, rng.integers(0, E, len(batch)), batch[:, 0])
        corrupted[:, 2] = np.where(~replace_head, rng.integers(0, E, len(batch)), batch[:, 2])
        return batch, corrupted

    def torch_step():
        b, c = (torch.from_numpy(a) for a in batches(rngs["PyTorch"]))
        loss = margin_loss(model(b[:, 0], b[:, 1], b[:, 2]), model(c[:, 0], c[:, 1], c[:, 2]), 1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.normalise_entities_()

    def numpy_step():
        b, c = batches(rngs["NumPy"])
        loss = numpy_transe.margin_loss(twin(*(st.tensor(b[:, i]) for i in range(3))),
                                        twin(*(st.tensor(c[:, i]) for i in range(3))), 1.0)
        twin_opt.zero_grad()
        loss.backward()
        twin_opt.step()
        twin.normalise_entities_()

    return {"PyTorch": torch_step, "NumPy": numpy_step}, sum(p.numel() for p in model.parameters())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the chapter's sizes, few rounds (a smoke test; writes nothing)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rounds, budget = (2, 0.01) if args.quick else (9, 0.2)
    cases = []
    for label, sizes in list(TRANSLATORS.items())[:1 if args.quick else None]:
        steps, n = translator_steps(torch, sizes)
        cases.append((f"translator: {label} ({', '.join(f'{k}={v}' for k, v in sizes.items())}), batch {TRANSLATOR_BATCH}",
                      n, steps))
    for label, (graph_sizes, dim) in list(GRAPHS.items())[:1 if args.quick else None]:
        steps, n = transe_steps(torch, graph_sizes, dim)
        cases.append((f"TransE: {label} ({', '.join(f'{k}={v}' for k, v in graph_sizes.items())}), dimension {dim}, "
                      f"batch {TRANSE_BATCH}", n, steps))
    lines = [f"Written by `benchmarks/text_twins_speed.py`; {machine_line(torch)}.", "",
             "One training step, float32, the same weights and batches in both engines; ratio = NumPy time / PyTorch "
             "time (median over rounds of the per-round ratio, in alternation; > 1: the NumPy engine is slower).", "",
             "| model | parameters | PyTorch ms per step | NumPy ms per step | NumPy / PyTorch |", "|---|---:|---:|---:|---:|"]
    for label, n, steps in cases:
        timed = interleaved(steps, rounds, budget, reference="PyTorch")
        lines.append(f"| {label} | {n:,} | {1e3 * timed['PyTorch']['median_s']:.2f} | {1e3 * timed['NumPy']['median_s']:.2f} "
                     f"| {timed['NumPy']['ratio']:.2f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:  # a smoke test never overwrites the page's numbers
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
