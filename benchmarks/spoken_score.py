# Copied verbatim from /work/shared/tools/spoken_score.py (the team's normalisation scorer), so it is
# exempt from our lint and typing: keep it in step with the shared copy rather than restyle it.
# ruff: noqa
# mypy: ignore-errors
"""Score a text normaliser: the fraction of cases whose spoken form (espeak-ng phonemes, en-us) matches a reference.
Files: lines 'written~spoken' ('#' comments; '|' separates acceptable spoken alternatives), or a folder of *.txt in that form.
The word 'and' and punctuation are ignored on both sides. SHOW_MISSES=N prints the first N misses.
usage: spoken_score.py PATH... [--cmd 'command reading written lines on stdin, printing spoken lines']"""

import sys, subprocess, re, glob, os, json

args = sys.argv[1:]
cmd = None
if "--cmd" in args:
    i = args.index("--cmd")
    cmd = args[i + 1]
    del args[i : i + 2]
files = []
for a in args:
    files += sorted(glob.glob(os.path.join(a, "*.txt"))) if os.path.isdir(a) else [a]


def phon_each(lines, ref=False):  # one espeak call per line; a reference also loses its punctuation
    out = []
    for l in lines:
        l = re.sub(r"\band\b", " ", l, flags=re.I)
        if ref:
            l = re.sub(r"[^\w\s']", " ", l)
        p = subprocess.run(
            ["espeak-ng", "-q", "-x", "-v", "en-us", "--", l], capture_output=True, text=True
        ).stdout
        out.append(re.sub(r"[\s'_,:;!=%-]", "", p))
    return out


res = {}
tot = ok = 0
misses = []
for f in files:
    pairs = [l.rstrip("\n").split("~", 1) for l in open(f) if "~" in l and not l.startswith("#")]
    inp = [p[0] for p in pairs]
    refs = [p[1].split("|") for p in pairs]
    if cmd:
        r = subprocess.run(
            cmd, shell=True, input="\n".join(inp) + "\n", capture_output=True, text=True
        )
        got = r.stdout.split("\n")[: len(inp)]
        got += [""] * (len(inp) - len(got))
    else:
        got = inp
    a = phon_each(got)
    n = 0
    for x, alts, w, g in zip(a, refs, inp, got):
        if x in phon_each(alts, ref=True):
            n += 1
        else:
            misses.append(f"{w}  =>  {g}")
    res[os.path.basename(f).rsplit(".", 1)[0]] = f"{n}/{len(pairs)}"
    tot += len(pairs)
    ok += n
if os.environ.get("SHOW_MISSES"):
    print("\n".join(misses[: int(os.environ["SHOW_MISSES"])]))
print(json.dumps(res))
print(f"spoken-correct {ok}/{tot} = {ok / tot:.3f}")
