"""Reference CLIP token ids for test/text/tokenizer.test.ts, written to test/fixtures/text/clip_tokens.json.

The tokenizer below is OpenAI CLIP's clip/simple_tokenizer.py and clip.tokenize(truncate=True)
(https://github.com/openai/CLIP, MIT licence, Copyright (c) 2021 OpenAI), reproduced without its docstrings
and with its bare `except:` narrowed to ValueError, run on the vendored assets/clip/bpe_simple_vocab_16e6.txt.gz
and real ftfy.

ftfy is imported as installed, or from a python-ftfy source checkout named by FTFY_SRC (it needs wcwidth:
Debian python3-wcwidth). Strings whose result depends on ftfy's mojibake repair (fix_encoding), which the
TypeScript port does not implement, are reported and left out.

    FTFY_SRC=/path/to/python-ftfy /usr/bin/python3 tools/oracles/tokenizer_fixture.py
"""
import gzip
import hashlib
import html
import json
import os
import random
import sys
from functools import lru_cache
from pathlib import Path

import regex as re

if os.environ.get("FTFY_SRC"):
    sys.path.insert(0, os.environ["FTFY_SRC"])
try:
    import ftfy
except ImportError:
    sys.exit("ftfy is not importable: install it, or set FTFY_SRC to a directory containing the ftfy package")

REPO = Path(__file__).resolve().parents[2]
VOCAB = REPO / "assets" / "clip" / "bpe_simple_vocab_16e6.txt.gz"
OUT = REPO / "test" / "fixtures" / "text" / "clip_tokens.json"
CONTEXT_LENGTH = 77


# ---- clip/simple_tokenizer.py (MIT, OpenAI) ---------------------------------------------------------------


@lru_cache()
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    cs = [chr(n) for n in cs]
    return dict(zip(bs, cs))


def get_pairs(word):
    pairs = set()
    prev_char = word[0]
    for char in word[1:]:
        pairs.add((prev_char, char))
        prev_char = char
    return pairs


def basic_clean(text):
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text))
    return text.strip()


def whitespace_clean(text):
    text = re.sub(r"\s+", " ", text)
    text = text.strip()
    return text


class SimpleTokenizer(object):
    def __init__(self, bpe_path: str):
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        merges = gzip.open(bpe_path).read().decode("utf-8").split("\n")
        merges = merges[1 : 49152 - 256 - 2 + 1]
        merges = [tuple(merge.split()) for merge in merges]
        vocab = list(bytes_to_unicode().values())
        vocab = vocab + [v + "</w>" for v in vocab]
        for merge in merges:
            vocab.append("".join(merge))
        vocab.extend(["<|startoftext|>", "<|endoftext|>"])
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.decoder = {v: k for k, v in self.encoder.items()}
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        self.pat = re.compile(
            r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            re.IGNORECASE,
        )

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = get_pairs(word)

        if not pairs:
            return token + "</w>"

        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break

                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            new_word = tuple(new_word)
            word = new_word
            if len(word) == 1:
                break
            else:
                pairs = get_pairs(word)
        word = " ".join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        bpe_tokens = []
        text = whitespace_clean(basic_clean(text)).lower()
        for token in re.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            bpe_tokens.extend(self.encoder[bpe_token] for bpe_token in self.bpe(token).split(" "))
        return bpe_tokens

    def decode(self, tokens):
        text = "".join([self.decoder[token] for token in tokens])
        text = bytearray([self.byte_decoder[c] for c in text]).decode("utf-8", errors="replace").replace("</w>", " ")
        return text


def tokenize_row(tokenizer, text, context_length=CONTEXT_LENGTH):
    """clip.tokenize for one text with truncate=True, as a plain list."""
    sot_token = tokenizer.encoder["<|startoftext|>"]
    eot_token = tokenizer.encoder["<|endoftext|>"]
    tokens = [sot_token] + tokenizer.encode(text) + [eot_token]
    if len(tokens) > context_length:
        tokens = tokens[:context_length]
        tokens[-1] = eot_token
    return tokens + [0] * (context_length - len(tokens))


# ---- test strings ---------------------------------------------------------------------------------------

CLASS_NAMES = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "dining table",
    "dog", "horse", "motorbike", "person", "potted plant", "sheep", "sofa", "train", "tv monitor",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "baseball glove", "tennis racket",
    "wine glass", "hot dog", "teddy bear", "hair drier", "toothbrush", "skyscraper", "streetlight",
    "chest of drawers", "refrigerator", "escalator", "waterfall", "background", "sky", "grass", "road",
    "building", "tree", "water", "mountain", "sand", "snow", "ceiling", "windowpane", "t-shirt",
]

PROMPT_TEMPLATES = [
    "a photo of a {}.", "itap of a {}.", "a bad photo of a {}.", "a origami {}.", "a photo of the large {}.",
    "a {} in a video game.", "art of the {}.", "a photo of the small {}.",
]
MORE_TEMPLATES = [
    "a photo of many {}.", "a sculpture of a {}.", "a rendering of a {}.", "a cropped photo of the {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a tattoo of the {}.",
    "there is a {} in the scene.", "this is a {} in the scene.", "a blurry photo of a {}.",
]

CAPTIONS = [
    "A man riding a wave on top of a surfboard.",
    "Two dogs playing with a frisbee in the park",
    "a kitchen with stainless steel appliances and granite countertops",
    "A group of people standing around a table with food on it.",
    "An old red truck parked next to a wooden barn",
    "The cat is sleeping on the laptop keyboard.",
    "A plate of spaghetti with meatballs and a glass of red wine",
    "Close-up of a bee on a sunflower, shallow depth of field",
    "Aerial view of a city at night with lights reflecting on the river",
    "A child in a yellow raincoat jumps into a puddle",
    "Stock photo: businessman shaking hands with a partner in an office",
    "Vintage 1950s car, restored, for sale - $25,000 OBO",
    "#sunset #beach #nofilter",
    "Photo by John Doe / Unsplash",
    "Mountains reflected in a calm lake at dawn (HDR)",
    "a giraffe standing next to a tree in a zoo enclosure",
    "A bowl of ramen with a soft-boiled egg, nori and scallions",
    "Street market in Marrakech, Morocco",
    "Black-and-white portrait of an elderly woman smiling",
    "Macro shot of water droplets on a green leaf",
]

EDGE_CASES = [
    # contractions and case
    "it's a dog", "IT'S A DOG", "It'S", "don't", "DON'T", "we're here", "they've gone", "I'm here", "I'M HERE",
    "we'll see", "she'd go", "you'RE", "'s", "''s", "rock'n'roll", "the cat'\u017f tail", "o'clock's", "'ll've",
    # HTML references
    "fish &amp; chips", "a &lt;b&gt; tag", "&quot;quoted&quot;", "it&#39;s", "it&#x27;s", "a&nbsp;b", "&amp;amp;",
    "&amp;amp;amp;lt;", "AT&amp;T", "AT&T", "&ampfoo", "&amp", "&notit;", "this&not that", "&EACUTE;",
    "P&EACUTE;REZ", "&Eacute;cole", "caf&eacute", "&#128;", "&#150;", "&#x80;", "&#0;", "x&#13;y", "&#xD800;",
    "&#1114112;", "&#x110000;", "&#xfeff;word", "&#59;", "&#12345678901234567890;", "&#x1F600;", "&#128512;",
    "&hellip;", "&mdash;", "&copy; 2024", "&lt;3 &amp; <b>bold</b>", "one &amp;\ntwo <tag> &amp;\nthree &amp;",
    "&#x85;", "&NewLine;x", "&Tab;y", "&nbsp;&nbsp;padded&nbsp;&nbsp;", "&#8220;smart&#8221;", "&#x1;&#x7f;",
    "&#xfdd0;&#xffff;&#x10fffe;", "&;", "&#;", "&#x;", "&#X41;", "&SZLIG;", "BUNDESSTRA&SZLIG;E", "&nTILDE;",
    # numbers
    "123", "3.14159", "1,000,000", "2024-01-01", "10\u00b3", "\u00bd", "\u2460\u2461\u2462", "\u0663\u0664\u0665",
    "\u216b", "x\u00b2", "0x1F", "1st 2nd 3rd 4th",
    # punctuation runs
    "!!!", "?!?!", "...", "\u2014", "--", "(hello)", "[a]{b}", "@#$%^&*", "a...b", "hello, world!", "e.g.",
    "U.S.A.", ":-)", "\u00af\\_(\u30c4)_/\u00af", "#hashtag @mention", "http://example.com/a?b=c&d=e",
    # emoji
    "\U0001f436", "a dog \U0001f436 and a cat \U0001f431", "\U0001f44d\U0001f3fd",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1eb\U0001f1f7", "\u2764\ufe0f",
    "\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f",
    # accents, case mapping and normalisation
    "caf\u00e9", "na\u00efve", "Cr\u00e8me Br\u00fbl\u00e9e", "cafe\u0301", "\u00c5ngstr\u00f6m", "\u00c9COLE",
    "\u00df", "STRASSE stra\u00dfe", "\u0130stanbul", "\u039f\u0394\u039f\u03a3", "\u039f\u0394\u039f\u03a3.",
    "\u03a3", "\u03a3\u0399\u03a3\u03a5\u03a6\u039f\u03a3 \u03a3\u03b9", "\u01c5emal", "\u0133sselmeer",
    "\u212a\u212b", "\u1fbc", "\u03b1\u0345", "x\u0345y", "!\u0345!", "\u1fb3",
    # scripts
    "\u732b", "\u4e00\u53ea\u732b\u5750\u5728\u57ab\u5b50\u4e0a", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "\ud55c\uad6d\uc5b4 \ubb38\uc7a5", "\uff76\uff80\uff76\uff85", "\uff76\uff9e\uff77\uff9e",
    "\u0642\u0637\u0629 \u0639\u0644\u0649 \u0627\u0644\u062d\u0635\u064a\u0631\u0629", "\u05e9\u05dc\u05d5\u05dd",
    "\u043a\u043e\u0448\u043a\u0430 \u043d\u0430 \u043a\u043e\u0432\u0440\u0438\u043a\u0435", "\u041c\u043e\u0441\u043a\u0432\u0430",
    "\u0e41\u0e21\u0e27", "\u092c\u093f\u0932\u094d\u0932\u0940", "\u03b3\u03ac\u03c4\u03b1",
    "Tokyo\u6771\u4eac2020",
    # full-width forms
    "\uff21\uff22\uff23\u3000\uff44\uff45\uff46", "\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33",
    "\uff11\uff12\uff13", "\uff01\uff1f", "\uffe5100",
    # curly quotes
    "\u201chello\u201d", "\u2018single\u2019", "it\u2019s", "\u201elow\u201c", "\u2039\u203a\u00ab\u00bb",
    "we\u02bcre", "\u201b\u201f",
    # ligatures
    "\ufb01sh", "\ufb02ower", "\ufb00 \ufb03 \ufb04 \ufb05 \ufb06", "\u0149", "\u01c4\u01c7\u01ca",
    # whitespace and control characters
    "a\tb", "a\nb", "a  b", "  leading", "trailing  ", "\t\n mixed \r\n ", "a\u00a0b", "a\u2003b", "a\u3000b",
    "a\u2028b", "a\u0085b", "a\u200bb", "\u200d", "a\ufeffb", "\x1c\x1dx\x1e\x1f", "a\x0bb\x0cc", "\r\ra\r",
    "\x1b[31mred\x1b[0m", "\x1b[1;32mbold green\x1b[m", "a\x00b", "a\x7fb", "a\u2066b\u2069", "\u206a\ufffc",
    "a\ud800b", "\udc00", "\ud83d\ude00", "\x80\x81\x8d\x8f\x90\x93\x94\x9d\x9f", "a\x85b\x85",
    "".join(f"&#{code};" for code in range(0x80, 0xA0)), "a&#11b", "a&#0b", "&amp&#59;", "&#x3b;&#59",
    "&ltfoo", "a&gt3", "&copy2024", "&notin", "&notinx;", "&Aacuteb", "&frac12;&frac34",
    # U+FEFF survives only through html.unescape (ftfy removes it): not whitespace for Python
    "&#xfeff", "dog&#xfeff", "a&#xfeff!b", "<p>&#xfeff;x</p>", "&#xfeff cat &#xfeff",
    # a "<" turns ftfy's own unescaping off for that line and every later one
    "<b>\n&#8220;quoted&#8221;", "&#8220;a&#8221;\n<b>", "x <y> &#8220;z&#8221;", "&amp;amp;amp;amp;",
    "<i>&amp;amp;amp;amp;</i>", "&lt;b&gt; &#x2019;s", "&#x2019;s", "&#xFB01;sh <", "&#xFF21;&#x3000;&lt;",
    # empty and blank
    "", " ", "\n\t ", "&nbsp;", "&#x20;",
    # special tokens written in the text
    "<|startoftext|>", "<|endoftext|>", "a photo<|endoftext|>of a cat", "<|STARTOFTEXT|>",
    "<|endoftext|><|endoftext|>", "<|startoftext|> hello <|endoftext|>", "<|start of text|>", "<|startoftext|",
    "|endoftext|>", "<|\u017ftartoftext|>", "&lt;|endoftext|&gt;",
    # words that exercise long merge chains
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "supercalifragilisticexpialidocious",
    "pneumonoultramicroscopicsilicovolcanoconiosis", "lol lololololol", "abc123def", "H2O", "COVID-19",
    "e-mail", "x86_64",
]

LONG_CASES = [
    " ".join(["a"] * 75),  # exactly fills 77 with start and end tokens
    " ".join(["a"] * 76),  # one token too many
    "a photo of " + " ".join(["a very big dog"] * 30),
    "1234567890" * 20,
    "\U0001f436" * 40,
    "\u732b\u5750\u5728\u57ab\u5b50\u4e0a" * 20,
    ("The quick brown fox jumps over the lazy dog. " * 12).strip(),
]

FUZZ_PIECES = [
    "dog", "Cat", "PHOTO", "of", "a", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "'s", "'LL", "\u2019re", "&amp;",
    "&lt;", "&#39;", "&eacute;", "&nbsp", "<", ">", "<|endoftext|>", "!", "?!", "...", "-", "_", "/", "42", "7",
    "\u00bd", "caf\u00e9", "e\u0301", "\u00dc", "\u732b", "\u3053\u308c", "\ud55c", "\u043a\u043e\u0442",
    "\u0642\u0637", "\U0001f436", "\u2764\ufe0f", "\uff21\uff42", "\uff76\uff9e", "\ufb01", "\u201c", "\u201d",
    "\x1b[0m", "\u200b", "\u039f\u03a3",
]


def fuzz_cases(count, seed=0):
    rng = random.Random(seed)
    return ["".join(rng.choice(FUZZ_PIECES) for _ in range(rng.randint(3, 14))) for _ in range(count)]


def all_strings():
    strings = list(CLASS_NAMES)
    strings += [template.format(CLASS_NAMES[(i * 7 + j) % len(CLASS_NAMES)])
                for i, template in enumerate(PROMPT_TEMPLATES) for j in range(8)]
    strings += [template.format(CLASS_NAMES[(i * 11 + j) % len(CLASS_NAMES)])
                for i, template in enumerate(MORE_TEMPLATES) for j in range(2)]
    strings += CAPTIONS + EDGE_CASES + LONG_CASES + fuzz_cases(40)
    return list(dict.fromkeys(strings))


def decode_cases(tokenizer):
    """Ids whose bytes are partial or invalid UTF-8, to pin down the replacement-character behaviour."""
    def ids_of_bytes(data):
        return [tokenizer.encoder[tokenizer.byte_encoder[b]] for b in data]

    byte_runs = [b"\xe2\x82", b"\xf0\x9f\x98", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                 b"\xef\xbb\xbfA", b"\xe2\x82\xacA\x80\xff", b"\xf0\x9f\x90\xb6"]
    id_lists = [[i] for i in range(512)] + [[49406], [49407], [49406, 320, 49407]] + [ids_of_bytes(r) for r in byte_runs]
    return [{"ids": ids, "text": tokenizer.decode(ids)} for ids in id_lists]


def main():
    tokenizer = SimpleTokenizer(str(VOCAB))
    cases, skipped = [], []
    for text in all_strings():
        if ftfy.fix_text(text) != ftfy.fix_text(text, fix_encoding=False):
            skipped.append(text)
            continue
        ids = tokenizer.encode(text)
        cases.append({"text": text, "ids": ids, "row": tokenize_row(tokenizer, text), "decoded": tokenizer.decode(ids)})
    fixture = {
        "source": "tools/oracles/tokenizer_fixture.py: CLIP simple_tokenizer.py + clip.tokenize(truncate=True)",
        "python": sys.version.split()[0],
        "ftfy": ftfy.__version__,
        "regex": re.__version__,
        "vocab_sha256": hashlib.sha256(VOCAB.read_bytes()).hexdigest(),
        "vocab_size": len(tokenizer.encoder),
        "start_of_text": tokenizer.encoder["<|startoftext|>"],
        "end_of_text": tokenizer.encoder["<|endoftext|>"],
        "context_length": CONTEXT_LENGTH,
    }
    # One case per line keeps diffs of the fixture readable.
    body = ",\n".join(json.dumps(case) for case in cases)
    decodes = ",\n".join(json.dumps(case) for case in decode_cases(tokenizer))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(fixture)[:-1] + ',\n"cases": [\n' + body + '\n],\n"decode_cases": [\n' + decodes + "\n]}\n",
        encoding="ascii",
    )
    for text in skipped:
        print(f"skipped (depends on ftfy mojibake repair): {text!r}", file=sys.stderr)
    print(f"wrote {OUT.relative_to(REPO)}: {len(cases)} cases, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
