"""Chapter 13: the source articles' reading lists, checked against the real records.

Each :class:`Citation` is a reference as a source article gives it (title, authors, year and
identifier, exactly as printed there, only romanised), with the ``references.bib`` key of the
work it points to, or ``None`` where no real work matches. :func:`problems` compares the two
field by field, so the chapter's verdict ("correct", "corrected", "not found") is computed,
never typed. :func:`identifier_problems` checks that a ``references.bib`` entry carries an
identifier that a reader can resolve (an arXiv ID, a DOI, an ISBN-13, or for a web page or an
old work with none of those, a URL) and that it is well
formed: ISBN check digits, DOI syntax, and an arXiv ID whose year and month exist and do not
come after the publication year by more than one year (an arXiv ID from 2018 cannot be a paper
published in 2016). Resolving the identifiers online is ``tests/test_reading_list.py``'s
network test, skipped offline.

Offline, each identifier was looked up instead in stored public reference text (arXiv
listings, publisher and index pages, and the reference lists, bibliographies and READMEs
of public repositories that cite the work). What was found is ``labs/data/reference_checks.json``,
one record per entry: the identifier checked, the title that source gives, where it was
seen, and a verdict. :func:`reference_check_problems` holds the record to the bibliography,
so an identifier or title changed after its check, or a title the source does not give,
is an error until the entry is checked again.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ARXIV_ID", "CHECK_VERDICTS", "DOI", "SEED_003", "SEED_004", "Citation", "arxiv_id_is_valid",
           "distinct_works", "identifier_problems", "isbn13_is_valid", "load_bib", "load_reference_checks",
           "primary_identifier", "problems", "REFERENCE_CHECKS_PATH", "reference_check_problems", "titles_match", "verdict"]

ARXIV_ID = re.compile(r"^(?P<yy>\d{2})(?P<mm>\d{2})\.(?P<number>\d{4,5})(v\d+)?$")
DOI = re.compile(r"^10\.\d{4,9}/\S+$")


@dataclass(frozen=True)
class Citation:
    where: str  # the article and its list, e.g. "004 references"
    numbers: tuple[int, ...]  # the entry numbers under which the list prints it (empty: an unnumbered list)
    title: str
    authors: tuple[str, ...]  # "Surname, I." as printed; "..." where the list elides names
    year: int | None
    arxiv: str | None
    key: str | None  # the references.bib key of the real work; None: no real work matches


SEED_003 = (
    Citation("003 §7.1 books", (), "Deep Learning", ("Goodfellow, I.", "Bengio, Y.", "Courville, A."), None, None,
             "goodfellow2016deep"),
    Citation("003 §7.1 books", (), "Deep Learning with Python", ("Chollet, F.",), None, None, "chollet2017deep"),
    Citation("003 §7.1 books", (), "Dive into Deep Learning", ("Hannun, A.", "Pandey, P.", "Zhang, A.", "..."), None, None,
             "zhang2023d2l"),
    Citation("003 §7.1 papers", (), "A Theoretical Framework for Back-Propagation",
             ("Rumelhart, D.", "Hinton, G.", "Singh, R."), None, None, "lecun1988theoretical"),
    # the name of Stanford's course CS231n, not a paper; Simonyan and Zisserman wrote VGG
    Citation("003 §7.1 papers", (), "Convolutional Neural Networks for Visual Recognition",
             ("Simonyan, K.", "Zisserman, A."), None, None, None),
    Citation("003 §7.1 papers", (), "Attention Is All You Need", ("Vaswani, A.", "..."), None, None, "vaswani2017attention"),
    Citation("003 §7.3", (), "Residual Networks", ("He, K.", "Zhang, X.", "Ren, S.", "Sun, J."), None, None, "he2016resnet"),
    Citation("003 §7.3", (), "DenseNet: A Structured Web of Convolutional Layers", ("(unreadable characters)",), None, None,
             "huang2017densenet"),
    Citation("003 §7.3", (), "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
             ("Girshick, R.", "Szegedy, C.", "Wojna, Z."), None, None, "tan2019efficientnet"),
)

_GOOGLENET = ("Szegedy, C.", "Liu, W.", "Jia, Y.", "Sermanet, G.", "Reed, S.", "Anguelov, D.", "...", "Vanhoucke, V.")
SEED_004 = (
    Citation("004 references", (1,), "Deep Learning", ("Goodfellow, I.", "Bengio, Y.", "Courville, A."), 2016, None,
             "goodfellow2016deep"),
    Citation("004 references", (2, 3), "Attention is All You Need", ("Vaswani, A.", "Shazeer, S.", "Parmar, N.", "Uszkoreit, J."),
             2017, "1706.03762", "vaswani2017attention"),
    Citation("004 references", (4,), "Deep Learning", ("LeCun, Y.", "Bengio, Y.", "Hinton, G."), 2015, None, "lecun2015deep"),
    Citation("004 references", (5,), "Framework for unsupervised learning of motor primitives", ("Graves, P.", "Schmidhuber, J."),
             2005, None, "graves2005framewise"),
    Citation("004 references", (6,), "Convolutional Neural Networks for Sentence Classification", ("Kim, S.",), 2014,
             "1408.5882", "kim2014convolutional"),
    Citation("004 references", (7,), "Densely Connected Convolutional Networks",
             ("Huang, L.", "Liu, Z.", "Van Der Maaten, L.", "Weinberger, K."), 2018, "1807.06521", "huang2017densenet"),
    Citation("004 references", (22, 34, 47), "Densely Connected Convolutional Networks",
             ("Huang, G.", "Liu, Z.", "Van Der Maaten, L.", "Weinberger, K."), 2017, "1706.07383", "huang2017densenet"),
    Citation("004 references", (8, 14, 17, 28, 40, 53), "Going deeper with convolutions", _GOOGLENET, 2015, None,
             "szegedy2015going"),
    Citation("004 references", (9,), "Deeper Convolutional Networks for Visual Recognition",
             ("Xiong, Y.", "Zhang, H.", "Zhang, H.", "Liu, Y."), 2018, "1803.00052", None),
    Citation("004 references", (10, 24, 36, 49), "Beyond Separable Convolutions: Learning Efficient Networks with Pruning and Skipping",
             ("Zhang, H.", "Zhang, H.", "Xiong, Y.", "Liu, Y."), 2018, "1803.00663", None),
    Citation("004 references", (11, 21, 25, 33, 37, 46, 50), "Deep Residual Learning for Image Recognition",
             ("He, K.", "Zhang, X.", "Ren, S.", "Sun, J."), 2016, "1512.03385", "he2016resnet"),
    Citation("004 references", (12, 13, 23, 26, 35, 38, 48, 51), "Squeeze-and-Excitation Networks",
             ("Hu, J.", "Liu, Z.", "Wang, L.", "Wei, W."), 2018, "1709.01507", "hu2018senet"),
    Citation("004 references", (15, 29, 41, 54), "Two-Step Convolutional Networks for the Analysis of Natural Images",
             ("Simonyan, K.", "Zisserman, A."), 2014, "1409.1556", "simonyan2015vgg"),
    Citation("004 references", (16, 27, 39, 42, 52), "Network in Network",
             ("Lin, T.", "Dhillon, I.", "Deng, J.", "Erhan, D.", "Belongie, S.", "Schwartz, E.", "...", "Fei-Fei, L."), 2013,
             "1312.4400", "lin2014nin"),
    Citation("004 references", (18, 30, 43, 55), "YOLO: Real-Time Object Detection",
             ("Redmon, J.", "Divvala, S.", "Goroshin, I.", "Farhadi, A."), 2016, "1506.02640", "redmon2016yolo"),
    Citation("004 references", (19, 31, 44, 56), "Faster R-CNN: Towards Real-Time Object Detection with Region Proposal Networks",
             ("Ren, S.", "He, K.", "Girshick, R.", "Sun, J."), 2015, "1506.01497", "ren2015faster"),
    Citation("004 references", (20, 32, 45), "Instance Normalization: The Missing Ingredient for Fast Stylization",
             ("Ulyanov, D.", "Krizhevsky, A.", "Vedaldi, A."), 2016, "1607.02052", "ulyanov2016instance"),
)


def load_bib(path: str | Path | None = None):
    """``references.bib`` parsed by pybtex: {key: entry}."""
    from pybtex.database import parse_file

    path = Path(path) if path else Path(__file__).resolve().parent.parent / "references.bib"
    if not path.exists():
        raise FileNotFoundError(f"no bibliography at {path}: pass the path of references.bib")
    return parse_file(str(path), bib_format="bibtex").entries


def _plain(text: str) -> str:
    """Lower case ASCII letters and digits only: {LSTM}, accents and punctuation do not count."""
    import codecs

    import latexcodec  # noqa: F401  (registers the "ulatex" codec: {\\"o} -> ö)

    text = codecs.decode(text, "ulatex")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _unlatex(text: str) -> str:
    """LaTeX accents to Unicode, braces dropped: ``J{\\"u}rgen`` -> ``Jürgen``."""
    import codecs

    import latexcodec  # noqa: F401

    return codecs.decode(text, "ulatex").replace("{", "").replace("}", "")


def _person(person) -> tuple[str, str]:
    """(surname, first initial) of a pybtex Person, plain."""
    last = " ".join(person.prelast_names + person.last_names)
    first = (person.first_names + person.middle_names or [""])[0]
    return _plain(last), _plain(first)[:1]


def _cited_person(text: str) -> tuple[str, str]:
    last, _, first = text.partition(",")
    return _plain(last), _plain(first)[:1]


def arxiv_id_is_valid(identifier: str, year: int | None = None) -> bool:
    """A new-style arXiv ID (YYMM.NNNN from 2007, YYMM.NNNNN from 2015) with a real month, not
    dated after ``year`` + 1 when the publication year is given."""
    m = ARXIV_ID.match(identifier or "")
    if not m:
        return False
    yy, mm = int(m["yy"]), int(m["mm"])
    if not 1 <= mm <= 12 or yy < 7 or (len(m["number"]) == 5) != (yy >= 15):
        return False
    return year is None or 2000 + yy <= year + 1


def isbn13_is_valid(isbn: str) -> bool:
    """ISBN-13 check digit: weights 1, 3, 1, 3, ... make the sum a multiple of 10."""
    digits = re.sub(r"[-\s]", "", isbn or "")
    if not re.fullmatch(r"97[89]\d{10}", digits):
        return False
    return sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10 == 0


def identifier_problems(entry) -> list[str]:
    """What is wrong with the identifiers of one references.bib entry (empty: resolvable and well formed)."""
    fields = {k.lower(): v for k, v in entry.fields.items()}
    found, out = False, []
    year = int(fields["year"]) if fields.get("year", "").isdigit() else None
    if "eprint" in fields:
        found = True
        if not arxiv_id_is_valid(fields["eprint"], year):
            out.append(f"arXiv ID {fields['eprint']!r} is malformed or dated after the publication year {year}")
    if "doi" in fields:
        found = True
        if not DOI.match(fields["doi"]):
            out.append(f"DOI {fields['doi']!r} is not of the form 10.NNNN/suffix")
    if "isbn" in fields:
        found = True
        if not isbn13_is_valid(fields["isbn"]):
            out.append(f"ISBN {fields['isbn']!r} fails the ISBN-13 check digit")
    if "url" in fields and not found:
        found = True  # a web page, or an old work with no DOI: its address is its identifier
    if not found:
        out.append("no identifier: add eprint (arXiv), doi, isbn, or url for a web page")
    return out


def problems(citation: Citation, bib) -> list[str]:
    """How a citation differs from the real record ``bib[citation.key]``; ["no real work ..."] when key is None."""
    if citation.key is None:
        return ["no real work matches this title and these authors"]
    if citation.key not in bib:
        raise KeyError(f"{citation.key!r} is not in references.bib: add the real record first")
    entry = bib[citation.key]
    fields = {k.lower(): v for k, v in entry.fields.items()}
    out = []
    if _plain(citation.title) != _plain(fields["title"]):
        out.append(f"title: the real title is {_unlatex(fields['title'])!r}")
    real = [_person(p) for p in entry.persons.get("author", [])]
    real_names = _unlatex("; ".join(str(p) for p in entry.persons.get("author", [])))
    complete = "..." not in citation.authors
    cited = [_cited_person(c) for c in citation.authors if c != "..."]
    surnames = {last: first for last, first in real}
    not_authors = [c for c, (last, _) in zip([c for c in citation.authors if c != "..."], cited) if last not in surnames]
    initials = [c for c, (last, first) in zip([c for c in citation.authors if c != "..."], cited)
                if last in surnames and first and surnames[last] != first]
    wrong = []
    if not_authors:
        wrong.append(f"{', '.join(not_authors)} did not write it")
    if initials:
        wrong.append(f"wrong first initial for {', '.join(initials)}")
    if complete and not not_authors and len(cited) < len(real):
        wrong.append(f"{len(cited)} of its {len(real)} authors, with no 'et al.'")
    if wrong:
        out.append(f"authors: {'; '.join(wrong)} (the authors are {real_names})")
    if citation.year is not None and fields.get("year", "").isdigit():
        years = {int(fields["year"])}
        if m := ARXIV_ID.match(fields.get("eprint", "")):
            years.add(2000 + int(m["yy"]))  # a preprint's year is also its year
        if citation.year not in years:
            out.append(f"year: {citation.year}, not {' or '.join(map(str, sorted(years)))}")
    if citation.arxiv is not None:
        real_id = fields.get("eprint")
        if real_id is None:
            raise KeyError(f"{citation.key}: the citation gives an arXiv ID but references.bib has no eprint to compare")
        if citation.arxiv != real_id:
            out.append(f"arXiv ID: {citation.arxiv} is another paper; this one is {real_id}")
    return out


def verdict(citation: Citation, bib) -> str:
    """"correct", "corrected" or "not found"."""
    if citation.key is None:
        return "not found"
    return "corrected" if problems(citation, bib) else "correct"


def distinct_works(citations) -> dict[str | None, list[int]]:
    """{bib key: entry numbers} of a numbered list; the works no key matches are listed under their own title."""
    works: dict = {}
    for c in citations:
        works.setdefault(c.key or f"(not found) {c.title}", []).extend(c.numbers)
    return {k: sorted(v) for k, v in works.items()}


CHECK_VERDICTS = ("verified", "corrected", "not found in the stored corpus")
REFERENCE_CHECKS_PATH = Path(__file__).resolve().parent / "data" / "reference_checks.json"


def primary_identifier(entry) -> str | None:
    """The identifier a reader resolves first, as ``"field:value"``: the arXiv ID, else the DOI, else the
    ISBN, else the URL (``None`` for an old work with none). This is the one the record checks."""
    fields = {k.lower(): v for k, v in entry.fields.items()}
    for name in ("eprint", "doi", "isbn", "url"):
        if name in fields:
            return f"{name}:{fields[name]}"
    return None


def load_reference_checks(path: str | Path | None = None) -> dict:
    """``labs/data/reference_checks.json``: {bib key: record}; a key given twice is an error, not a silent overwrite."""
    import json

    path = Path(path) if path else REFERENCE_CHECKS_PATH
    if not path.exists():
        raise FileNotFoundError(f"no reference checks at {path}: pass the path of reference_checks.json")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if dupes := sorted({k for k in keys if keys.count(k) > 1}):
            raise ValueError(f"{path.name}: keys given more than once: {dupes}")
        return dict(pairs)

    return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)


def titles_match(seen: str, title: str) -> bool:
    """The same title up to case, accents, braces and punctuation; a subtitle after the first ':' may be
    left out by either (a reference list often cites a paper by its main title only)."""
    if _plain(seen) == _plain(title):
        return True
    main = lambda t: _plain(_unlatex(t).split(":", 1)[0])  # noqa: E731
    return bool(main(seen)) and main(seen) == main(title) and (":" not in seen or ":" not in title)


def reference_check_problems(bib, checks) -> list[str]:
    """What is wrong between ``references.bib`` and its record of checks (empty: every entry has a record
    of its current identifier, and a verified or corrected record saw the entry's title)."""
    out = []
    for key, entry in bib.items():
        ident = primary_identifier(entry)
        if ident is None:
            continue  # a work older than arXiv with no identifier (test_reading_list exempts only those)
        if key not in checks:
            out.append(f"{key}: no record in reference_checks.json; check {ident} and add one")
            continue
        record = checks[key]
        missing = {"identifier", "title_seen", "evidence", "verdict"} - set(record)
        if missing:
            out.append(f"{key}: the record lacks {sorted(missing)}")
            continue
        if record["verdict"] not in CHECK_VERDICTS:
            out.append(f"{key}: verdict {record['verdict']!r} is none of {CHECK_VERDICTS}")
        if record["identifier"] != ident:
            out.append(f"{key}: the record checked {record['identifier']!r} but the bib now gives {ident!r}; check it again")
        if not str(record["evidence"]).strip():
            out.append(f"{key}: the record says nowhere where the identifier was seen")
        title = entry.fields["title"]
        if record["verdict"] != CHECK_VERDICTS[2] and not titles_match(record["title_seen"], title):
            out.append(f"{key}: the source gives the title {record['title_seen']!r}, the bib {_unlatex(title)!r}")
        if record["verdict"] == "corrected" and not record.get("note"):
            out.append(f"{key}: a corrected record must say what was wrong (note)")
    out += [f"{key}: a record for a key that is not in references.bib" for key in checks if key not in bib]
    return out

