"""How KnowledgeIndex (BM25F over numpy arrays) scales with the size of the knowledge folder, next to bm25s.

For each size N (--sizes, default 1000,10000) it writes N synthetic knowledge entries
(Markdown with YAML front matter, as in knowledge/) to a temporary folder, then measures:

  * Vigil, through plugin.knowledge.retrieval.KnowledgeIndex exactly as the plugin uses it:
    rebuild() time (which includes reading and YAML-parsing every file), index size on disk,
    latency of search(text, limit=3) per query (median, p95; warmed up first), hit@1/hit@3;
  * a plain BM25 reference, bm25s (its own tokenizer, English stop words, PyStemmer
    "english" stemmer if installed), over the same entries as one text each
    (title + tags + products + body) and the same queries one at a time, top 3:
    tokenize+index time, saved size, latency (query tokenizing included), hit@1/hit@3.

Times are wall time and CPU time (the process's for a build, the thread's for a query): on a
shared machine the CPU time is the steadier figure. The two engines' queries take turns, one
query each, so the latency ratios are measured under the same load.

The entries are deterministic per (seed, index): entry i is the same whatever N, so the
corpus of 1,000 is the first 1,000 entries of the corpus of 10,000, and the query set is
fixed across sizes. Titles, tags and products come from a support-domain vocabulary
(products, components, symptoms, contexts, error codes like E1042); bodies are 60-200
words whose background words follow a Zipf law (function words first, then ~350 support
words, then a long tail of made-up words), so document frequencies and idf spread out as
they do in real text. Half the queries paraphrase one entry's title and symptom with
other words (that entry is the known target, drawn from the first 1,000 entries, or fewer
if the smallest size is smaller); the other half are off-topic, vague, or mix the topics
of several entries.

100,000 entries is opt-in (--sizes 1000,10000,100000): see benchmarks/README.md for
how long it takes. If it is not run, build time and p95 latency at 100,000 are
extrapolated from the two largest sizes measured, and labelled as such.

Run: python benchmarks/retrieval.py [--sizes 1000,10000] [--queries 500] [--seed 7]
     [--profile 20]   (cProfile that many queries at the largest size, print the top functions)
     [--keep]         (keep the generated entries and indexes; the folder is printed)
Needs: pip install bm25s PyStemmer   (PyStemmer optional: without it bm25s does not stem)
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import os
import platform
import pstats
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from itertools import accumulate
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from plugin.knowledge.entries import entry_paths, load_entry  # noqa: E402
from plugin.knowledge.retrieval import KnowledgeIndex  # noqa: E402

try:
    import bm25s
    from bm25s.tokenization import Tokenizer
except ImportError:  # pragma: no cover - the reference is optional, the Vigil figures are not
    bm25s = None
try:
    import Stemmer  # PyStemmer: a compiled Snowball stemmer, no data to download
except ImportError:
    Stemmer = None

MAX_TARGET = 1000  # known targets are drawn from the first entries, present at every size
WARMUP = 30  # queries run before timing, from their own stream, not part of the measured set
EXTRAPOLATE_TO = 100_000

# ---------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------

FUNCTION_WORDS = """the to and a of it you is that for in on this with be your can are if have
not or as at will we from by our an was when they their there then so but all any do does
has what my me i been should would could please just also""".split()

SUPPORT_WORDS = """account order customer check settings page click screen email password update
version device network connection payment card refund invoice shipping delivery address browser
cache cookies app login sign reset link code message error issue problem support team ticket
agent confirm verify restart reinstall option menu tab button profile subscription plan billing
charge credit trial renewal cancel export import report dashboard admin user permission role
access token key license server sync backup restore file folder upload download attachment size
limit timeout firmware battery cable port adapter power light wifi bluetooth pairing signal
speed latency outage maintenance region language timezone calendar notification alert sms phone
number voucher coupon discount cart checkout warehouse parcel tracking courier return label
exchange warranty repair replacement serial model receipt store online manager contact request
response time date week month today hours minutes status pending active disabled enabled
blocked locked unlock expired valid invalid amount total price tax currency bank transfer
statement balance fee late due schedule scheduled recurring automatic manual default custom
template field value list item product catalogue stock available unavailable quantity size
colour location branch office home mobile desktop tablet laptop computer windows mac android
ios chrome firefox safari edge extension plugin integration api webhook endpoint request
certificate domain dns router modem mesh ethernet speaker microphone camera video audio sound
volume display brightness touch keyboard mouse printer scanner paper ink toner tray jam
driver install installation uninstall setup wizard step steps guide article help centre
policy terms privacy data gdpr delete deletion request copy share shared team workspace
project folder document spreadsheet pdf csv image photo upload storage quota space plan
upgrade downgrade seat seats member invite invitation owner group channel chat widget
booking appointment reservation slot calendar reminder email newsletter unsubscribe spam
junk inbox sender recipient reply forward draft signature template campaign audience
segment analytics metrics chart export sync offline online cloud local backup snapshot
history log logs audit event events trigger rule rules workflow automation queue priority
escalate escalation tier level sla breach callback refund chargeback dispute fraud
security suspicious verification identity document passport selfie review approved
rejected declined failed success successful retry again later sooner faster slower slow
quick immediately soon usually sometimes always never often rarely instead otherwise
however because since after before during while until unless although""".split()

PRODUCTS = [  # (name, aliases customers use)
    ("mesh router", ["router", "wifi router"]), ("mobile app", ["phone app", "app on my phone"]),
    ("web dashboard", ["dashboard", "website dashboard"]), ("smart thermostat", ["thermostat"]),
    ("label printer", ["printer", "label maker"]), ("payment terminal", ["card reader", "terminal"]),
    ("vpn client", ["vpn", "vpn app"]), ("desktop sync client", ["sync client", "desktop app"]),
    ("security camera", ["camera", "cctv camera"]), ("video doorbell", ["doorbell"]),
    ("smart plug", ["plug", "smart socket"]), ("e-reader", ["ereader", "kindle-like reader"]),
    ("wireless headphones", ["headphones", "headset"]), ("soundbar", ["speaker bar", "tv speaker"]),
    ("fitness tracker", ["tracker", "watch"]), ("gift card", ["giftcard", "voucher card"]),
    ("loyalty programme", ["rewards scheme", "points scheme"]), ("online store", ["shop", "webshop"]),
    ("billing portal", ["billing page", "customer portal"]), ("public api", ["api", "rest api"]),
    ("browser extension", ["extension", "add-on"]), ("point of sale", ["pos", "till"]),
    ("barcode scanner", ["scanner", "handheld scanner"]), ("laptop dock", ["dock", "docking station"]),
    ("streaming box", ["tv box", "media box"]), ("smart tv app", ["tv app", "television app"]),
    ("email service", ["mailbox", "webmail"]), ("cloud backup", ["backup service", "online backup"]),
    ("password manager", ["vault", "password app"]), ("invoicing module", ["invoicing", "invoices"]),
    ("inventory module", ["inventory", "stock module"]), ("booking widget", ["booking page", "widget"]),
    ("live chat widget", ["chat", "chat box"]), ("sim card", ["sim", "esim"]),
    ("mobile plan", ["phone plan", "contract"]), ("fibre broadband", ["broadband", "internet"]),
    ("nas drive", ["nas", "network drive"]), ("robot vacuum", ["vacuum", "robot"]),
    ("electric scooter", ["scooter", "e-scooter"]), ("coffee machine", ["espresso machine", "machine"]),
]

COMPONENT_NOUNS = """sync login export import firmware battery invoice payment notification calendar
backup password pairing update display audio camera report webhook subscription refund
barcode receipt voucher profile permissions search upload download charging bluetooth wifi
schedule reminder checkout cart discount coupon tracking delivery returns warranty licence
activation registration verification two-factor session token certificate dns ethernet port
storage quota sharing invitation workspace migration restore snapshot history audit logs
alerts automation workflow integration connector feed catalogue pricing tax currency
statement balance autopay direct-debit chargeback dispute loyalty points cashback referral
onboarding setup installation uninstall driver printing scanning label tray motion-detection
night-vision recording playback streaming subtitles volume microphone speaker touchscreen
keyboard trackpad hinge fan thermostat heating cooling schedule geofencing widget chat
transcript handover queue routing sla rating survey""".split()

QUALIFIERS = """scheduled automatic bulk offline guest shared nightly manual recurring partial
international multi-currency mobile desktop weekly monthly annual family business trial
legacy beta premium basic default custom secondary primary remote local encrypted public
private archived pending instant express""".split()

SYMPTOMS = [  # each: ways of saying the same thing; titles use one, queries another
    ["keeps failing", "fails every time", "does not work at all"],
    ["stops responding", "freezes", "hangs completely"],
    ["shows a blank screen", "displays nothing", "stays empty"],
    ["is stuck loading", "never finishes loading", "spins forever"],
    ["disconnects randomly", "drops the connection", "keeps losing connection"],
    ["is missing", "has disappeared", "cannot be found anywhere"],
    ["shows the wrong amount", "has an incorrect total", "charges the wrong price"],
    ["is duplicated", "appears twice", "was sent twice"],
    ["is very slow", "takes ages", "is sluggish"],
    ["is rejected", "gets declined", "is refused"],
    ["will not sync", "does not synchronise", "is out of sync"],
    ["times out", "hits a timeout", "expires before finishing"],
    ["crashes on start", "closes right after opening", "quits immediately"],
    ["drains the battery", "uses too much power", "empties the battery overnight"],
    ["shows an error", "throws an error", "gives an error message"],
    ["cannot be cancelled", "refuses to cancel", "won't let me cancel"],
    ["is not received", "never arrives", "did not come through"],
    ["overheats", "gets very hot", "runs hot"],
    ["makes a buzzing noise", "is noisy", "buzzes loudly"],
    ["restarts by itself", "reboots randomly", "resets on its own"],
    ["shows an outdated status", "is not updated", "displays old information"],
    ["sends too many emails", "spams my inbox", "floods me with messages"],
    ["cannot be downloaded", "download fails", "will not download"],
    ["loses saved settings", "forgets my settings", "settings are wiped"],
    ["reports the wrong time", "has the wrong clock", "shows an incorrect time"],
    ["rejects a valid password", "says my password is wrong", "won't accept my password"],
    ["is charged twice", "double charges", "bills me two times"],
    ["cannot be paired", "will not pair", "fails to connect"],
    ["prints blank labels", "prints empty pages", "outputs nothing on paper"],
    ["goes offline", "appears offline", "shows as disconnected"],
]

CONTEXTS = [  # (as a title says it, as a customer says it)
    ("after the latest update", "since I updated it"), ("during checkout", "when paying at checkout"),
    ("when exporting to csv", "while exporting a spreadsheet"),
    ("after a password change", "since I changed my password"), ("on a new device", "on my new phone"),
    ("when travelling abroad", "while I'm abroad"), ("after a power cut", "since the power outage"),
    ("for guest users", "for our guests"), ("with a vpn connected", "when the vpn is on"),
    ("in dark mode", "with dark mode enabled"), ("on first login", "the first time I log in"),
    ("after plan renewal", "since the plan renewed"), ("on older firmware", "on the old firmware"),
    ("with two accounts", "when I have two accounts"), ("after a refund", "since I was refunded"),
    ("during a firmware upgrade", "while it was upgrading"), ("over mobile data", "on 4g"),
    ("at month end", "at the end of the month"), ("in the eu region", "here in europe"),
    ("for bulk orders", "when ordering in bulk"), ("after a factory reset", "since I reset it"),
    ("on shared workspaces", "in a shared workspace"), ("behind a corporate proxy", "on the office network"),
    ("with large attachments", "when the file is big"), ("after daylight saving", "since the clocks changed"),
]

STEP_VERBS = """check confirm ask restart clear reinstall update verify escalate reset re-pair
collect open close remove add enable disable review compare refund reissue resend
rebuild reconnect export""".split()

OPENERS = ["", "", "Hi,", "Hello team,", "Good morning,", "Hey there,", "Dear support,", "Hi again,"]
CLOSERS = ["", "Can you help?", "What should I do?", "This is urgent, thanks.", "Any idea why?",
           "Please advise.", "Thanks in advance!", "I need this fixed today."]
OFF_TOPIC = [
    "Do you have any vacancies for a {a} {b} job in the {c} department?",
    "I would like to write an article about your {c} team for our {a} magazine.",
    "What are your opening hours on {d}? I want to visit the {c} office.",
    "Just wanted to say the {a} {b} at the {c} event was lovely, well done to {e}.",
    "Are you interested in a partnership with our {a} {b} agency in {f}?",
    "Is it going to rain in {f} on {d}? Asking for the {a} {b} picnic.",
    "Can you recommend a good {a} restaurant near the {c} office in {f}?",
    "Who won the {a} {b} match on {d}? My colleague {e} says it was a draw.",
    "Our school is raising money for a {a} {b}; would you donate a prize?",
    "Please remove me from the {a} {b} mailing list, I never signed up.",
]
OFF_WORDS = dict(
    a="summer marketing local charity football quarterly vegan vintage regional student".split(),
    b="internship magazine festival trip league lunch garden concert raffle marathon".split(),
    c="marketing finance design legal press catering events reception".split(),
    d="saturday sunday monday friday easter christmas".split(),
    e="Maria Tom Aisha Pedro Li Sam".split(),
    f="leeds porto lyon krakow austin dublin".split(),
)
VAGUE = ["It's not working again, any update?", "Thanks, that fixed it!", "Still waiting on this.",
         "Same problem as last week.", "Can someone call me back please?", "Did you get my last email?",
         "Ok I tried that and nothing changed.", "Is there an update on my ticket?",
         "Never mind, it works now.", "Why is this taking so long?"]

_ONSETS = "b c d f g h k l m n p r s t v w z br cr dr fl gr pl pr sh st tr ch th".split()
_NUCLEI = "a e i o u ai ea ou io".split()
_CODAS = ["", "", "n", "r", "l", "s", "t", "m", "x", "nd", "rk", "st"]


def tail_words(n: int) -> list[str]:
    """n made-up, pronounceable, distinct words: the long tail of the Zipf vocabulary."""
    rng = random.Random("vigil-tail-vocabulary")
    reserved = set(FUNCTION_WORDS) | set(SUPPORT_WORDS)
    words: dict[str, None] = {}
    while len(words) < n:
        word = "".join(rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS)
                       for _ in range(rng.choice((2, 2, 3))))
        if word not in reserved:
            words.setdefault(word, None)
    return list(words)


class Vocabulary:
    """Background words by Zipf rank (frequency ~ 1 / rank**s), and the topic pools."""

    def __init__(self, tail: int = 40_000, s: float = 1.07):
        content = list(dict.fromkeys(SUPPORT_WORDS))
        random.Random("vigil-support-ranks").shuffle(content)
        self.words = list(dict.fromkeys(FUNCTION_WORDS)) + content + tail_words(tail)
        self.cum = list(accumulate(1.0 / r ** s for r in range(1, len(self.words) + 1)))
        self.components = [(q + " " + n) if q else n for n in dict.fromkeys(COMPONENT_NOUNS)
                           for q in [""] + QUALIFIERS]
        self.component_cum = list(accumulate(1.0 / r ** 0.8 for r in range(1, len(self.components) + 1)))
        self.product_cum = list(accumulate(1.0 / r ** 0.7 for r in range(1, len(PRODUCTS) + 1)))
        self.codes = [f"E{c}" for c in random.Random("vigil-codes").sample(range(1000, 10000), 3000)]
        self.code_cum = list(accumulate(1.0 / r ** 0.9 for r in range(1, len(self.codes) + 1)))

    def background(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=k)


# ---------------------------------------------------------------------------------------
# Entries and queries
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    product: int
    component: str
    symptom: int
    title_variant: int
    context: int
    code: str | None


@dataclass(frozen=True)
class Query:
    text: str
    target: str | None  # the entry id a good search puts first; None for off-topic or mixed
    quotes_code: bool = False


def entry_id_of(i: int) -> str:
    return f"c{i // 1000:03d}/e{i:06d}"


def topic_of(vocab: Vocabulary, seed: int, i: int) -> Topic:
    rng = random.Random(f"{seed}:topic:{i}")
    product = rng.choices(range(len(PRODUCTS)), cum_weights=vocab.product_cum)[0]
    component = rng.choices(vocab.components, cum_weights=vocab.component_cum)[0]
    code = rng.choices(vocab.codes, cum_weights=vocab.code_cum)[0] if rng.random() < 0.6 else None
    return Topic(product, component, rng.randrange(len(SYMPTOMS)), rng.randrange(3),
                 rng.randrange(len(CONTEXTS)), code)


def make_entry(vocab: Vocabulary, seed: int, i: int) -> tuple[str, str, list[str], list[str], str]:
    """Entry i: (id, title, tags, products, body). Depends only on seed and i."""
    t = topic_of(vocab, seed, i)
    rng = random.Random(f"{seed}:entry:{i}")
    product = PRODUCTS[t.product][0]
    symptom = SYMPTOMS[t.symptom][t.title_variant]
    context = CONTEXTS[t.context][0]
    template = rng.randrange(4) if t.code else rng.randrange(2)
    title = [f"{product.capitalize()}: {t.component} {symptom} {context}",
             f"{t.component.capitalize()} on the {product} {symptom}",
             f"Error {t.code}: {product} {t.component} {symptom}",
             f"{product.capitalize()} {t.component} {symptom} ({t.code})"][template]
    tags = [t.component, symptom.split()[-1], context.split()[-1]] + ([t.code] if t.code else [])
    tags += rng.sample(vocab.words[len(FUNCTION_WORDS):len(FUNCTION_WORDS) + 300], rng.randint(0, 2))
    sentences = [f"The customer reports that the {t.component} on the {product} "
                 f"{SYMPTOMS[t.symptom][rng.randrange(3)]} {context}."]
    if t.code:
        sentences.append(f"The {product} shows error {t.code} when this happens.")
    topical = (product.split() + t.component.split() + SYMPTOMS[t.symptom][0].split()
               + context.split())
    length = rng.randint(60, 200)
    words = sum(len(s.split()) for s in sentences)
    step = 1
    while words < length:
        n = min(rng.randint(8, 16), length - words)
        chunk = vocab.background(rng, n)
        for _ in range(rng.randint(0, 2)):  # the topic recurs in the body, as in real entries
            chunk.insert(rng.randrange(len(chunk) + 1), rng.choice(topical))
        if rng.random() < 0.4:
            chunk.insert(0, f"{step}. {rng.choice(STEP_VERBS).capitalize()}")
            step += 1
        else:
            chunk[0] = chunk[0].capitalize()
        sentences.append(" ".join(chunk) + ".")
        words += len(chunk)
    return entry_id_of(i), title, tags, [product], "\n".join(_paragraphs(rng, sentences))


def _paragraphs(rng: random.Random, sentences: list[str]) -> list[str]:
    out, para = [], []
    for s in sentences:
        para.append(s)
        if rng.random() < 0.3 or s[:2].rstrip(".").isdigit():
            out.append(" ".join(para))
            para = []
    if para:
        out.append(" ".join(para))
    return out


def write_entry(root: Path, entry) -> None:
    id_, title, tags, products, body = entry
    path = root / f"{id_}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON strings and arrays are valid YAML flow scalars and sequences: safe with ':' etc.
    path.write_text(f"---\ntitle: {json.dumps(title)}\ntags: {json.dumps(tags)}\n"
                    f"products: {json.dumps(products)}\nsources: [\"synthetic:{id_}\"]\n---\n"
                    f"{body}\n", encoding="utf-8")


def paraphrase(vocab: Vocabulary, seed: int, i: int, rng: random.Random) -> Query:
    """A customer's message about entry i's problem, in other words than its title."""
    t = topic_of(vocab, seed, i)
    name, aliases = PRODUCTS[t.product]
    product = name if rng.random() < 0.6 else rng.choice(aliases)
    component = t.component.split()[-1] if rng.random() < 0.4 else t.component
    symptom = SYMPTOMS[t.symptom][rng.choice([v for v in range(3) if v != t.title_variant])]
    context = CONTEXTS[t.context][1] if rng.random() < 0.5 else ""
    core = rng.choice([f"my {product} {component} {symptom} {context}",
                       f"the {component} on my {product} {symptom} {context}",
                       f"{context}, the {component} {symptom} on the {product}" if context
                       else f"the {component} {symptom} on the {product}"])
    quotes_code = bool(t.code) and rng.random() < 0.4
    code = rng.choice([f" It says {t.code}.", f" Error code {t.code}.", f" ({t.code})"]) if quotes_code else ""
    text = " ".join(p for p in (rng.choice(OPENERS), core.strip().capitalize() + "." + code,
                                rng.choice(CLOSERS)) if p)
    return Query(" ".join(text.split()), entry_id_of(i), quotes_code)


def distractor(vocab: Vocabulary, seed: int, rng: random.Random, n_entries: int) -> Query:
    """A message no single entry answers: off-topic, vague, or several topics mixed."""
    kind = rng.random()
    if kind < 0.4:
        text = rng.choice(OFF_TOPIC).format(**{k: rng.choice(v) for k, v in OFF_WORDS.items()})
    elif kind < 0.7:
        text = rng.choice(VAGUE)
    else:
        a, b, c = (topic_of(vocab, seed, rng.randrange(n_entries)) for _ in range(3))
        text = (f"{rng.choice(OPENERS)} my {rng.choice(PRODUCTS[a.product][1])} "
                f"{SYMPTOMS[b.symptom][rng.randrange(3)]} and the {c.component} "
                f"{SYMPTOMS[c.symptom][rng.randrange(3)]} {CONTEXTS[a.context][1]}. {rng.choice(CLOSERS)}")
    return Query(" ".join(text.split()), None)


def make_queries(vocab: Vocabulary, seed: int, count: int, n_targets: int, stream: str) -> list[Query]:
    rng = random.Random(f"{seed}:queries:{stream}")
    targeted = [paraphrase(vocab, seed, rng.randrange(n_targets), rng) for _ in range(count // 2)]
    others = [distractor(vocab, seed, rng, n_targets) for _ in range(count - count // 2)]
    queries = targeted + others
    rng.shuffle(queries)
    return queries


# ---------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Figures:
    build_s: float
    build_cpu_s: float  # CPU time of the building process: steadier than wall time on a shared machine
    disk_mb: float
    median_ms: float
    p95_ms: float
    median_cpu_ms: float  # CPU time of the searching thread per query
    p95_cpu_ms: float
    hit1: float
    hit3: float
    hit1_code: float  # hit@1 on the targeted queries that quote the entry's error code
    hit1_nocode: float


@dataclass
class Built:
    """An engine ready to search: its build times, its size on disk, search(text) -> entry ids."""
    build_s: float
    build_cpu_s: float
    disk_mb: float
    search: object  # Callable[[str], list[str]]


def time_queries(searches: list, queries: list[Query], warmup: list[Query]) -> list[tuple[list, list, list]]:
    """(wall times, CPU times, entry ids found) per engine, the engines taking turns query by query.

    Taking turns puts every engine under the same load from the rest of the machine, so the
    ratios hold on a busy machine even when the absolute times do not. Only the search call
    itself is inside the timing; CPU time is the thread's own, so a query that waited for
    a core is not counted as slow in that column.
    """
    for q in warmup:
        for search in searches:
            search(q.text)
    out: list[tuple[list, list, list]] = [([], [], []) for _ in searches]
    for q in queries:
        for search, (walls, cpus, found) in zip(searches, out):
            cpu, wall = time.thread_time(), time.perf_counter()
            result = search(q.text)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.thread_time() - cpu)
            found.append(result)
    return out


def score(built: Built, walls: list[float], cpus: list[float], results: list[list[str]],
          queries: list[Query]) -> Figures:
    def rate(pairs, k):
        pairs = list(pairs)
        return sum(q.target in ids[:k] for q, ids in pairs) / len(pairs) if pairs else float("nan")

    targeted = [(q, ids) for q, ids in zip(queries, results) if q.target]
    return Figures(built.build_s, built.build_cpu_s, built.disk_mb,
                   statistics.median(walls) * 1e3, percentile(walls, 0.95) * 1e3,
                   statistics.median(cpus) * 1e3, percentile(cpus, 0.95) * 1e3,
                   rate(targeted, 1), rate(targeted, 3),
                   rate(((q, r) for q, r in targeted if q.quotes_code), 1),
                   rate(((q, r) for q, r in targeted if not q.quotes_code), 1))


def build_vigil(knowledge: Path, work: Path) -> tuple[Built, KnowledgeIndex, dict]:
    index_dir = work / "vigil-index"
    gc.collect()
    cpu, start = time.process_time(), time.perf_counter()
    kx = KnowledgeIndex(knowledge, index_dir)
    indexed = kx.rebuild()
    build, build_cpu = time.perf_counter() - start, time.process_time() - cpu
    paths = list(entry_paths(knowledge))
    sample = paths[:: max(1, len(paths) // 2000)]
    start = time.process_time()
    for path in sample:
        load_entry(knowledge, path)
    parse = (time.process_time() - start) / len(sample) * len(paths)
    evidence: dict[str, list[float]] = {"targeted": [], "other": []}

    def search(text: str) -> list:
        return kx.search(text, limit=3)

    built = Built(build, build_cpu, dir_mb(index_dir), search)
    return built, kx, {"indexed": indexed, "parse_cpu_s": parse, "evidence": evidence}


def build_bm25s(entries_text: list[str], ids: list[str], work: Path) -> Built:
    stemmer = Stemmer.Stemmer("english") if Stemmer else None
    gc.collect()
    cpu, start = time.process_time(), time.perf_counter()
    tokenizer = Tokenizer(stopwords="en", stemmer=stemmer)
    tokens = tokenizer.tokenize(entries_text, show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    build, build_cpu = time.perf_counter() - start, time.process_time() - cpu
    save_dir = work / "bm25s-index"
    retriever.save(str(save_dir))  # without the corpus: the index only, like the plugin's index file

    def search(text: str):
        q = tokenizer.tokenize([text], update_vocab=False, show_progress=False)
        return retriever.retrieve(q, k=3, show_progress=False)  # (doc indices, scores), top 3

    return Built(build, build_cpu, dir_mb(save_dir), search)


def measure(knowledge: Path, work: Path, texts: list[str], ids: list[str], queries: list[Query],
            warmup: list[Query]) -> tuple[Figures, Figures | None, KnowledgeIndex, dict]:
    """Build both, then time their searches taking turns; the figures of each."""
    vigil, kx, extra = build_vigil(knowledge, work)
    reference = build_bm25s(texts, ids, work) if bm25s else None
    timed = time_queries([vigil.search] + ([reference.search] if reference else []), queries, warmup)
    walls, cpus, hits = timed[0]
    for q, found in zip(queries, hits):
        extra["evidence"]["targeted" if q.target else "other"].append(found[0].score if found else 0.0)
    wh = score(vigil, walls, cpus, [[h.entry_id for h in found] for found in hits], queries)
    bm = None
    if reference:
        walls, cpus, results = timed[1]
        found_ids = [[ids[d] for d, s in zip(docs[0], scores[0]) if s > 0] for docs, scores in results]
        bm = score(reference, walls, cpus, found_ids, queries)
    return wh, bm, kx, extra


def profile(kx: KnowledgeIndex, queries: list[Query], count: int) -> None:
    sample = queries[:count]
    profiler = cProfile.Profile()
    profiler.enable()
    for q in sample:
        kx.search(q.text, limit=3)
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(14)
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
        print(f"\ncProfile of search() over {len(sample)} queries, by {order}:")
        print("\n".join(lines[start - 2:]).rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000",
                        help="entry counts, comma-separated (default 1000,10000; 100000 is opt-in)")
    parser.add_argument("--queries", type=int, default=500, help="measured queries (half with a known target)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", type=int, default=0, metavar="Q",
                        help="cProfile Q queries through KnowledgeIndex.search at the largest size")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder with the entries and indexes (printed)")
    args = parser.parse_args()
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})

    versions = ", ".join(f"{p} {_version(p)}" for p in ("bm25s", "PyStemmer", "numpy"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"packages: {versions}; code: {_code_version()}")
    if bm25s is None:
        print("bm25s is not installed (pip install bm25s): the reference columns are skipped")
    print(f"bm25s tokenizer: English stop words, stemmer: "
          f"{'PyStemmer english (Snowball)' if Stemmer else 'none (PyStemmer not installed)'}")

    vocab = Vocabulary()
    n_targets = min(MAX_TARGET, sizes[0])
    queries = make_queries(vocab, args.seed, args.queries, n_targets, "measured")
    warmup = make_queries(vocab, args.seed, WARMUP, n_targets, "warmup")
    n_targeted = sum(1 for q in queries if q.target)
    print(f"queries: {len(queries)} ({n_targeted} with a known target among the first {n_targets} entries, "
          f"{sum(q.quotes_code for q in queries)} of them quoting its error code), "
          f"+{len(warmup)} warm-up; seed {args.seed}")
    print("examples:", *(f"  [{q.target or '-'}] {q.text}" for q in queries[:4]), sep="\n")

    rows: list[tuple[int, Figures, Figures | None]] = []
    tmp = Path(tempfile.mkdtemp(prefix="vigil-retrieval-bench-"))
    try:
        knowledge = tmp / "knowledge"
        texts: list[str] = []
        ids: list[str] = []
        for n in sizes:
            start = time.perf_counter()
            for i in range(len(ids), n):  # the corpus grows: entry i is the same at every size
                entry = make_entry(vocab, args.seed, i)
                write_entry(knowledge, entry)
                id_, title, tags, products, body = entry
                ids.append(id_)
                texts.append(" ".join((title, " ".join(tags), " ".join(products), body)))
            gen = time.perf_counter() - start
            if n == sizes[0]:
                print("example entry:\n" + (knowledge / f"{ids[0]}.md").read_text()[:700].rstrip() + "\n")
            words = sum(len(t.split()) for t in texts)
            print(f"\n=== N = {n:,} entries: {words:,} words, {dir_mb(knowledge):.1f} MB of Markdown "
                  f"(generated and written in {gen:.1f} s) ===")
            work = tmp / f"work-{n}"
            work.mkdir()
            wh, bm, kx, extra = measure(knowledge, work, texts, ids, queries, warmup)
            assert extra["indexed"] == n, extra["indexed"]
            _print_size(wh, bm, extra)
            print(f"peak resident memory so far: {peak_rss_mb():,.0f} MB")
            if args.profile and n == sizes[-1]:
                profile(kx, queries, args.profile)
            kx.close()
            if not args.keep:
                shutil.rmtree(work)
            rows.append((n, wh, bm))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    _print_summary(rows)


MEASURED = ("plugin/knowledge/retrieval.py", "plugin/knowledge/scoretable.py", "plugin/knowledge/entries.py",
            "plugin/knowledge/analysis.py")  # the code the figures describe


def _code_version() -> str:
    """The commit measured, and whether the retrieval code differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", *MEASURED], cwd=REPO).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {head}" + (f" with uncommitted changes to {', '.join(MEASURED)}" if dirty else "")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _print_size(wh: Figures, bm: Figures | None, extra: dict) -> None:
    def col(f: Figures | None, attr: str, fmt: str) -> str:
        return format(getattr(f, attr), fmt) if f else "-"

    print(f"{'':34}{'Vigil (KnowledgeIndex)':>24}{'bm25s':>12}{'Vigil/bm25s':>14}")
    for label, attr, fmt in (("build (s)", "build_s", ".2f"), ("build, CPU time (s)", "build_cpu_s", ".2f"),
                             ("index on disk (MB)", "disk_mb", ".1f"),
                             ("query latency median (ms)", "median_ms", ".2f"),
                             ("query latency p95 (ms)", "p95_ms", ".2f"),
                             ("query CPU time median (ms)", "median_cpu_ms", ".2f"),
                             ("query CPU time p95 (ms)", "p95_cpu_ms", ".2f"),
                             ("hit@1 (targeted queries)", "hit1", ".3f"), ("hit@3", "hit3", ".3f"),
                             ("hit@1, query quotes error code", "hit1_code", ".3f"),
                             ("hit@1, query has no code", "hit1_nocode", ".3f")):
        ratio = ""
        if bm and not attr.startswith("hit") and getattr(bm, attr) > 0:
            ratio = f"{getattr(wh, attr) / getattr(bm, attr):.2f}x"
        print(f"{label:34}{col(wh, attr, fmt):>24}{col(bm, attr, fmt):>12}{ratio:>14}")
    print(f"  Vigil build includes reading + YAML-parsing the files: ~{extra['parse_cpu_s']:.1f} s of CPU "
          f"time of it (sampled); bm25s indexes in-memory text")
    print("  queries: the engines take turns, query by query, so both meet the same load")
    ev = extra["evidence"]
    print(f"  evidence score of Vigil's first hit, median: targeted {statistics.median(ev['targeted']):.3f}, "
          f"off-topic/vague/mixed {statistics.median(ev['other']):.3f}")


def _print_summary(rows) -> None:
    print("\n=== summary ===")
    print("W = Vigil (KnowledgeIndex), B = bm25s; ratios are W/B; wall time (CPU time in brackets)")
    print(f"{'N':>8}{'build s W':>16}{'build s B':>14}{'ratio':>14}{'p95 ms W':>16}{'p95 ms B':>16}{'ratio':>14}"
          f"{'MB W':>8}{'MB B':>7}{'hit@1 W/B':>12}{'hit@3 W/B':>12}")
    for n, wh, bm in rows:
        b = bm or Figures(*(float("nan"),) * 11)
        print(f"{n:>8,}{f'{wh.build_s:.2f} ({wh.build_cpu_s:.2f})':>16}{f'{b.build_s:.2f} ({b.build_cpu_s:.2f})':>14}"
              f"{f'{wh.build_s / b.build_s:.1f}x ({wh.build_cpu_s / b.build_cpu_s:.1f}x)':>14}"
              f"{f'{wh.p95_ms:.2f} ({wh.p95_cpu_ms:.2f})':>16}{f'{b.p95_ms:.2f} ({b.p95_cpu_ms:.2f})':>16}"
              f"{f'{wh.p95_ms / b.p95_ms:.2f}x ({wh.p95_cpu_ms / b.p95_cpu_ms:.2f}x)':>14}"
              f"{wh.disk_mb:>8.1f}{b.disk_mb:>7.1f}"
              f"{f'{wh.hit1:.2f}/{b.hit1:.2f}':>12}{f'{wh.hit3:.2f}/{b.hit3:.2f}':>12}")
    measured = [n for n, _, _ in rows]
    if EXTRAPOLATE_TO not in measured and len(rows) >= 2 and rows[-1][0] < EXTRAPOLATE_TO:
        (n1, w1, _), (n2, w2, _) = rows[-2], rows[-1]
        print(f"\nEXTRAPOLATED, NOT MEASURED: Vigil at {EXTRAPOLATE_TO:,} entries, from a power law "
              f"through N = {n1:,} and {n2:,}:")
        for label, a, b, unit in (("build", w1.build_s, w2.build_s, "s"), ("p95 latency", w1.p95_ms, w2.p95_ms, "ms"),
                                  ("median latency", w1.median_ms, w2.median_ms, "ms"),
                                  ("index on disk", w1.disk_mb, w2.disk_mb, "MB")):
            exp = math.log(b / a) / math.log(n2 / n1)
            print(f"  {label}: ~{b * (EXTRAPOLATE_TO / n2) ** exp:,.1f} {unit} (grows as N^{exp:.2f})")


if __name__ == "__main__":
    main()
