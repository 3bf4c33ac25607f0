"""Render every results table and plot in the docs from the files in bench/results/.

A page asks for a result with two lines, and this fills in what goes between them:

    <!-- result: learn -->
    <!-- end result -->

`learn` is bench/results/learn.json (any bench's name; `tuning` is tuning.csv; `headline` the
README's table of headline results, from learn, arms, arms_pose, the pixels files and suite, and
`expect` its note on the first run). The plots go to docs/img/.

    python bench/render.py            # rewrite the tables in README.md and docs/, draw the plots
    python bench/render.py --check    # exit 1 if a table differs from its result file
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import REPO, RESULTS, markdown_table, median_range  # noqa: E402

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
IMAGES = REPO / "docs" / "img"
BLOCK = re.compile(r"(<!-- result: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end result -->)", re.S)
SEEDS = [f"seed_{i}" for i in range(10)]
LINK = "docs/benchmarks.md"  # where the README's headline table links to


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def missing(name: str) -> str:
    if (REPO / "bench" / f"{name}.py").exists():
        return f"*No result yet: run `python bench/{name}.py`.*\n"
    return f"*No result yet in bench/results/{name}.json: run the command above.*\n"


def provenance(result: dict) -> str:
    return (
        f"`{result['command']}`: commit `{result['commit']}`, {result['date']}, "
        f"{result['machine']}.\n"
    )


def result_block(name: str) -> str:
    """A bench's table as it printed it, its notes, and where it comes from."""
    result = load(name)
    if result is None:
        return missing(name)
    text = f"{result['title']}.\n\n{markdown_table(result['columns'], result['rows'])}\n\n"
    if result["notes"]:
        text += f"{result['notes']}\n\n"
    return text + provenance(result)


def tuning_block() -> str:
    """The tuning history: one row per setting tried, steps to the first evaluation >= 95%."""
    path = RESULTS / "tuning.csv"
    if not path.exists():
        return "*No tuning history in bench/results/tuning.csv.*\n"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    seeds = [s for s in SEEDS if any(row[s] for row in rows)]
    table, baseline = [], None
    for row in rows:
        if (row["date"], row["baseline"]) != baseline:
            baseline = (row["date"], row["baseline"])
            table.append([f"*{row['date']}, from {row['baseline']}*", *[""] * len(seeds), ""])
        cells = [row[s] for s in seeds]
        runs = [c for c in cells if c]
        reached = sum(not c.startswith("-") for c in runs)
        setting = row["setting"] + (f" (`{row['flags']}`)" if row["flags"] else "")
        if row["defaults"] == "yes":
            setting = f"**{setting}**"
        table.append([setting, *cells, f"{reached}/{len(runs)}"])
    columns = [
        "setting (bold: the defaults of the day)",
        *[s.replace("_", " ") for s in seeds],
        "reached 95%",
    ]
    meta = load("tuning") or {}
    text = f"{markdown_table(columns, table)}\n\n"
    if meta.get("notes"):
        text += f"{meta['notes']}\n\n"
    if meta:
        text += f"`{meta['command']}`: {meta['date']}, {meta['machine']}.\n"
    return text


def cell(result: dict, first: str, column: int) -> str:
    return next(row[column] for row in result["rows"] if row[0] == first)


def headline_block() -> str:
    """The README's one table: the final policy at a fixed budget, from learn, arms, arms_pose,
    the pixel files and suite."""
    rows = []
    learn, suite = load("learn"), load("suite")
    if learn is not None:
        seeds = len(learn["data"]["seeds"])
        budget = f"{learn['data']['steps'] // 1000}k steps, {seeds} seeds"
        sb3 = max(learn["rows"][1:], key=lambda row: float(row[1].split()[0]))
        rows.append([
            "ArmReach-v0 (KUKA), final success", budget,
            f"{cell(learn, 'ours', 1)}, {cell(learn, 'ours', 2)} s of training",
            f"{sb3[1]}, {sb3[2]} s ({sb3[0]})", f"[learn]({LINK}#learning-on-armreach-v0)",
        ])  # fmt: skip
    for name, goal, anchor in [
        ("arms", "", "every-arm-armreach-v1"),
        ("arms_pose", " goal=pose", "the-pose-goal-on-every-arm"),
    ]:
        arms = load(name)
        if arms is not None:
            budget = f"{arms['data']['steps'] // 1000}k steps, {len(arms['data']['seeds'])} seeds"
            for row in arms["rows"]:
                rows.append([
                    f"ArmReach-v1 robot={row[0]}{goal}, final success", budget,
                    f"{row[1]}, {row[3]} s per run", "-", f"[{name}]({LINK}#{anchor})",
                ])  # fmt: skip
    rows += pixel_rows()
    if suite is not None:
        for row in suite["rows"]:
            if row[0] != "ArmReach-v0":
                rows.append([
                    f"{row[0]}, final return", f"{int(row[1]) // 1000}k steps",
                    row[2].split(" (")[0], f"{row[6]} (CleanRL, published)",
                    f"[suite]({LINK}#the-learning-suite)",
                ])  # fmt: skip
    if not rows:
        return missing("learn")
    columns = ["task", "budget", "this project: median (range)", "comparison", "details"]
    return markdown_table(columns, rows) + "\n"


def pixel_rows() -> list[list[str]]:
    """The headline rows of bench/pixels.py, whose runs may be split over several result files:
    ours on each arm, beside SB3's run on that arm if there is one and ours at SB3's budget."""
    parts = ["pixels", "pixels_franka_panda", "pixels_xarm6", "pixels_sb3"]
    results = [r for r in map(load, parts) if r is not None]
    sb3 = {
        row[0].split(", ")[-1]: (row, r["data"]["sb3_steps"], len(r["data"]["seeds"]))
        for r in results
        for row in r["rows"]
        if row[0].startswith("sb3")
    }
    rows = []
    for r in results:
        budget = f"{r['data']['steps'] // 1000}k steps, {len(r['data']['seeds'])} seeds"
        for row in r["rows"]:
            if row[0].startswith("ours, "):
                robot = row[0].removeprefix("ours, ")
                comparison = "-"
                if robot in sb3:
                    sb3_row, sb3_steps, seeds = sb3[robot]
                    comparison = (
                        f"{sb3_row[1]} at {sb3_steps // 1000}k steps, {sb3_row[3]} s ({seeds} "
                        f"seeds, SB3 MultiInputPolicy); "
                        + evaluation_at(r["data"][robot]["runs"], sb3_steps)
                    )
                rows.append([
                    f"ArmReach-v1 robot={robot} obs_mode=pixels, final success", budget,
                    f"{row[1]}, {row[3]} s per run", comparison,
                    f"[pixels]({LINK}#learning-from-pixels)",
                ])  # fmt: skip
    return rows


def evaluation_at(runs: list[dict], steps: int) -> str:
    """Ours' evaluations (50 episodes of unseen seeds, during the run) at the first point at or
    past `steps`: beside a comparison trained for `steps`, ours at that budget."""
    points = [next((p for p in run["evals"] if p[0] >= steps), None) for run in runs]
    if None in points:
        return f"this project has no evaluation at {steps // 1000}k in every run"
    at = max(p[0] for p in points)
    return f"this project's evaluation at {at / 1000:.0f}k: {median_range([p[1] for p in points])}"


def expect_block() -> str:
    """What the README's first command gives: this project's row of bench/learn.py."""
    learn = load("learn")
    if learn is None:
        return missing("learn")
    ours = learn["data"]["runs"]["ours"]
    row = next(row for row in learn["rows"] if row[0] == "ours")
    return (
        f"{row[2]} s of training (median over {len(ours)} seeds; start-up and evaluations "
        f"not counted); then the final deterministic policy's success rate on 100 episodes of "
        f"unseen seeds is {row[1]} (median (range)). {provenance(learn)}"
    )


def render(text: str) -> str:
    """The page with every result block rendered from bench/results/."""

    def fill(match: re.Match) -> str:
        name = match["name"]
        blocks = {"tuning": tuning_block, "headline": headline_block, "expect": expect_block}
        body = blocks.get(name, lambda: result_block(name))()
        return f"{match[1]}{body}{match[4]}"

    return BLOCK.sub(fill, text)


def plot_learning_curves(out: Path) -> None:
    """Evaluation success against env steps, median and range over seeds, per trainer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learn = load("learn")
    if learn is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, runs in learn["data"]["runs"].items():
        steps = sorted({int(s) for run in runs for s, _, _ in run["evals"]})
        by_step = [{int(s): rate for s, _, rate in run["evals"]} for run in runs]
        grid = np.array([[evals.get(x, np.nan) for x in steps] for evals in by_step])
        ax.plot(steps, np.nanmedian(grid, 0), label=f"{name} (median of {len(runs)} seeds)")
        ax.fill_between(steps, np.nanmin(grid, 0), np.nanmax(grid, 0), alpha=0.2)
    ax.set(xlabel="env steps", ylabel="evaluation success rate", ylim=(0, 1.02))
    ax.set_title("ArmReach-v0: deterministic evaluations, median and range over seeds")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_throughput(out: Path) -> None:
    """Seconds per 1000 env steps of each training setting, split into the envs' share (env-only
    stepping) and the rest (policy, buffer, update)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = load("throughput")
    if result is None:
        return
    env_only = float(result["rows"][0][1])
    names = [row[0].removeprefix("training, ") for row in result["rows"][1:]]
    total = np.array([1000 / float(row[1]) for row in result["rows"][1:]])
    envs = np.full(len(total), 1000 / env_only)
    fig, ax = plt.subplots(figsize=(7, 1.8 + 0.5 * len(names)))
    ax.barh(names, envs, label="env stepping (env-only rate)")
    ax.barh(names, total - envs, left=envs, label="policy, buffer and update")
    ax.set(xlabel="seconds per 1000 env steps (lower is faster)")
    ax.invert_yaxis()
    fig.legend(loc="upper center", ncol=2, fontsize="small")
    fig.tight_layout(rect=(0, 0, 1, 0.85))
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a table is out of date")
    parser.add_argument("pages", nargs="*", type=Path, default=PAGES, help="default: the docs")
    args = parser.parse_args()
    stale = []
    for page in args.pages:
        text = page.read_text()
        rendered = render(text)
        if rendered != text:
            stale.append(page)
            if not args.check:
                page.write_text(rendered)
    if args.check:
        if stale:
            sys.exit(f"out of date with bench/results/: {', '.join(map(str, stale))}; "
                     "run `python bench/render.py`")  # fmt: skip
        return
    IMAGES.mkdir(parents=True, exist_ok=True)
    plot_learning_curves(IMAGES / "learn_curves.png")
    plot_throughput(IMAGES / "throughput.png")
    for page in stale:
        print(f"rendered {page}")


if __name__ == "__main__":
    main()
