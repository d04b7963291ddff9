/**
 * What the real-photo composites are made of, as data: the photo-like stamps of Debian's
 * `tuxpaint-stamps-default` grouped into a vocabulary of classes (each class with stamps held back for
 * validation), the photographic wallpapers of `mate-backgrounds` and `plasma-workspace-wallpapers` (some held
 * back), and the synonyms the captions use. A catalog can also be read from JSON (`--catalog`), e.g. to add
 * backgrounds or to test the builder on a synthetic source.
 */
import { readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { GENERAL_WORDS } from "./general-words.js";

export type Split = "train" | "val";

/** One cut-out: a PNG whose alpha is the exact mask, and a sibling `.txt` whose first line is its caption. */
export interface StampEntry {
  /** Path without extension, relative to `stampRoot` (or absolute). */
  path: string;
  /** The vocabulary class, or undefined for a stamp used in training pairs only (named by `name`). */
  class?: string;
  /** The specific noun the caption templates use ("flamingo", "sports car"). */
  name: string;
  split: Split;
}

export interface BackgroundEntry {
  /** Image path, relative to `backgroundRoot` (or absolute). */
  path: string;
  /** A place phrase for captions ("on a beach"). */
  scene: string;
  split: Split;
}

export interface ClassEntry {
  name: string;
  /** Other words a caption may use for the class (the name itself is always one of the choices). */
  synonyms: string[];
}

export interface Catalog {
  /** Where stamp paths are resolved: /usr/share/tuxpaint/stamps for the Debian catalog. */
  stampRoot: string;
  /** Where background paths are resolved: / for the Debian catalog. */
  backgroundRoot: string;
  classes: ClassEntry[];
  stamps: StampEntry[];
  backgrounds: BackgroundEntry[];
  /** The Debian packages the files come from (for the error when they are missing, and the data card). */
  packages: string[];
}

export const DEBIAN_PACKAGES = ["tuxpaint-stamps-default", "mate-backgrounds", "plasma-workspace-wallpapers"];
export const APT_LINE = `sudo apt-get install ${DEBIAN_PACKAGES.join(" ")}`;

interface ClassStamps {
  synonyms: string[];
  /** path → specific name */
  train: Record<string, string>;
  val: Record<string, string>;
}

/** The vocabulary: classes with at least two photo-like stamps, so that one can be held back for validation. */
const CLASSES: Record<string, ClassStamps> = {
  bird: {
    synonyms: ["bird"],
    train: {
      "animals/birds/adelaide-rosella": "rosella",
      "animals/birds/albino_peahen": "peahen",
      "animals/birds/blackbird": "blackbird",
      "animals/birds/chicken_profile": "chicken",
      "animals/birds/crow": "crow",
      "animals/birds/crowned_crane": "crane",
      "animals/birds/cuckoo": "cuckoo",
      "animals/birds/duck": "duck",
      "animals/birds/gander": "goose",
      "animals/birds/guineafowl": "guineafowl",
      "animals/birds/hen": "hen",
      "animals/birds/heron_greatblue": "heron",
      "animals/birds/heron_greatblue_flying": "heron",
      "animals/birds/little-penguin": "penguin",
      "animals/birds/magpie": "magpie",
      "animals/birds/nandou": "rhea",
      "animals/birds/ostrich": "ostrich",
      "animals/birds/peacock": "peacock",
      "animals/birds/pelican": "pelican",
      "animals/birds/penguin": "penguin",
      "animals/birds/pigeon": "pigeon",
      "animals/birds/quetzal": "quetzal",
      "animals/birds/rainbow-lorikeet": "lorikeet",
      "animals/birds/seagull": "seagull",
      "animals/birds/tucan": "toucan",
      "animals/birds/turkey": "turkey",
      "animals/birds/vulture": "vulture",
    },
    val: {
      "animals/birds/drake": "duck",
      "animals/birds/helmeted_guineafowl": "guineafowl",
      "animals/birds/lark": "lark",
      "animals/birds/magellanic_penguin": "penguin",
      "animals/birds/owl": "owl",
      "animals/birds/pink_flamingo": "flamingo",
      "animals/birds/rooster": "rooster",
      "animals/birds/silver-gull": "gull",
    },
  },
  fish: {
    synonyms: ["fish"],
    train: {
      "animals/fish/bluegroper": "groper",
      "animals/fish/butterflyfish": "butterflyfish",
      "animals/fish/dolphinfish": "dolphinfish",
      "animals/fish/lionfish": "lionfish",
      "animals/fish/moonwrasse": "wrasse",
      "animals/fish/stripedfish": "striped fish",
    },
    val: { "animals/fish/clownfish": "clownfish", "animals/fish/coraltrout": "trout" },
  },
  insect: {
    synonyms: ["insect", "bug"],
    train: {
      "animals/insects/fly": "fly",
      "animals/insects/grasshopper": "grasshopper",
      "animals/insects/hoverfly": "hoverfly",
      "animals/insects/xanthia": "moth",
    },
    val: { "animals/insects/hornet": "hornet", "animals/insects/mantis": "mantis" },
  },
  monkey: {
    synonyms: ["monkey", "ape", "primate"],
    train: { "animals/mammals/apes/chimp": "chimpanzee", "animals/mammals/apes/tamarin_emperor": "tamarin" },
    val: { "animals/mammals/apes/gorilla": "gorilla" },
  },
  bear: {
    synonyms: ["bear"],
    train: { "animals/mammals/bears/bear": "brown bear" },
    val: { "animals/mammals/bears/european-bear": "brown bear" },
  },
  cow: {
    synonyms: ["cow"],
    train: {
      "animals/mammals/bovines/bull": "bull",
      "animals/mammals/bovines/cow": "cow",
      "animals/mammals/bovines/zebu": "zebu",
    },
    val: { "animals/mammals/bovines/cow_white": "cow" },
  },
  sheep: {
    synonyms: ["sheep"],
    train: { "animals/mammals/bovines/ram": "ram", "animals/mammals/bovines/sheep": "sheep" },
    val: { "animals/mammals/bovines/sheep_lamb": "lamb" },
  },
  deer: {
    synonyms: ["deer"],
    train: {
      "animals/mammals/deer/caribou": "caribou",
      "animals/mammals/deer/deer": "stag",
      "animals/mammals/deer/wapiti": "elk",
    },
    val: { "animals/mammals/deer/doe": "doe" },
  },
  dog: {
    synonyms: ["dog"],
    train: { "animals/mammals/dogs/dog": "husky" },
    val: { "animals/mammals/dogs/dingo": "dingo" },
  },
  pig: {
    synonyms: ["pig", "hog"],
    train: { "animals/mammals/pig": "pig", "animals/mammals/pig_golden": "pig" },
    val: { "animals/mammals/pig_golden2": "pig" },
  },
  rabbit: {
    synonyms: ["rabbit", "bunny"],
    train: { "animals/mammals/rabbit_little": "rabbit", "animals/mammals/rodents/rabbit": "hare" },
    val: { "animals/mammals/rodents/rabbit-2": "rabbit" },
  },
  dolphin: {
    synonyms: ["dolphin"],
    train: { "animals/mammals/aquatic/dolphin": "dolphin" },
    val: { "animals/mammals/aquatic/orca": "orca" },
  },
  flower: {
    synonyms: ["flower", "blossom"],
    train: {
      "plants/flowers/adeenia": "desert rose",
      "plants/flowers/anemone_red": "anemone",
      "plants/flowers/appooppanthady": "dandelion",
      "plants/flowers/bolsom": "balsam",
      "plants/flowers/chemparathi": "hibiscus",
      "plants/flowers/flower1": "flower",
      "plants/flowers/flower10": "hibiscus",
      "plants/flowers/flower2": "buttercup",
      "plants/flowers/flower3": "flower",
      "plants/flowers/flower4": "flower",
      "plants/flowers/flower6": "flower",
      "plants/flowers/flower7": "lantana",
      "plants/flowers/flower8": "flower",
      "plants/flowers/flower9": "flower",
      "plants/flowers/pigface": "pigface",
      "plants/flowers/red-gazania": "gazania",
      "plants/flowers/whitestar-petunia": "petunia",
      "plants/flowers/yellow-flower": "daisy",
    },
    val: {
      "plants/flowers/anthoorium": "anthurium",
      "plants/flowers/daffodil": "daffodil",
      "plants/flowers/flower5": "flower",
      "plants/flowers/iris": "iris",
      "plants/flowers/marigold": "marigold",
      "plants/flowers/rose": "rose",
    },
  },
  tree: {
    synonyms: ["tree"],
    train: {
      "plants/trees/birch": "birch",
      "plants/trees/liberia-palm": "palm tree",
      "plants/trees/tree336": "pili nut tree",
    },
    val: { "plants/trees/holm_oak": "oak" },
  },
  mushroom: {
    synonyms: ["mushroom", "fungus"],
    train: {
      "food/vegetables/mushroom": "mushroom",
      "plants/mushrooms/cep": "cep",
      "plants/mushrooms/cep-1": "cep",
    },
    val: { "plants/mushrooms/cep-2": "cep" },
  },
  apple: {
    synonyms: ["apple"],
    train: {
      "food/fruit/apple_fuji": "apple",
      "food/fruit/apple_granny_smith": "apple",
      "food/fruit/apple_green": "green apple",
      "food/fruit/apple_sierra_beauty": "apple",
    },
    val: { "food/fruit/apple_red": "red apple" },
  },
  orange: {
    synonyms: ["orange"],
    train: {
      "food/fruit/orange": "orange",
      "food/fruit/orange_seville": "bitter orange",
      "food/fruit/sliced_orange": "orange slice",
    },
    val: { "food/fruit/mandarine": "mandarin" },
  },
  car: {
    synonyms: ["car", "automobile"],
    train: {
      "vehicles/auto/beetle": "beetle",
      "vehicles/auto/sedan": "sedan",
      "vehicles/race/indycar": "race car",
    },
    val: { "vehicles/auto/sportscar2": "sports car" },
  },
  truck: {
    synonyms: ["truck", "lorry"],
    train: { "vehicles/auto/truck": "pickup truck", "vehicles/garbagetruck": "garbage truck" },
    val: { "vehicles/emergency/firetruck": "fire truck" },
  },
  boat: {
    synonyms: ["boat", "ship"],
    train: { "vehicles/ship/chineseJunk": "junk" },
    val: { "vehicles/ship/walnutBoat": "sailboat" },
  },
  airplane: {
    synonyms: ["airplane", "plane", "aeroplane"],
    train: { "vehicles/flight/planes/747": "jumbo jet" },
    val: { "military/vehicles/f22_raptor": "fighter jet" },
  },
  guitar: {
    synonyms: ["guitar"],
    train: {
      "hobbies/music/string/guitar2": "electric guitar",
      "hobbies/music/string/guitar_electric": "electric guitar",
      "hobbies/music/string/guitar_electric_bass": "bass guitar",
    },
    val: { "hobbies/music/string/guitar_classical": "classical guitar" },
  },
  ball: {
    synonyms: ["ball"],
    train: {
      "sports/australian_rules_football": "football",
      "sports/basketball": "basketball",
      "sports/cricketball": "cricket ball",
      "sports/football": "football",
      "sports/tennis_ball": "tennis ball",
    },
    val: { "sports/soccer": "soccer ball" },
  },
};

/**
 * Photo-like stamps of no vocabulary class: training pairs only, named by their own noun. None of them is an
 * instance of a vocabulary class (no Christmas tree, no toy bear), so a caption never contradicts the classes.
 */
const TRAINING_ONLY: Record<string, string> = {
  "animals/amphibians/frog": "frog",
  "animals/amphibians/frog-1": "frog",
  "animals/fish/lobster": "lobster",
  "animals/fish/seahorse": "seahorse",
  "animals/fish/shrimp": "shrimp",
  "animals/insects/Brown_slug": "slug",
  "animals/insects/Woodlouse": "woodlouse",
  "animals/lizards/iguana": "iguana",
  "animals/mammals/aquatic/otter": "otter",
  "animals/mammals/aquatic/sea_lion": "sea lion",
  "animals/mammals/aquatic/whale": "whale",
  "animals/mammals/badger": "badger",
  "animals/mammals/bovines/bison": "bison",
  "animals/mammals/bovines/gnu-baby": "gnu",
  "animals/mammals/bovines/gnu-baby-stand": "gnu",
  "animals/mammals/bovines/gnu-sitting": "gnu",
  "animals/mammals/bovines/gnu-stand": "gnu",
  "animals/mammals/bovines/goat": "goat",
  "animals/mammals/bovines/indian_blackbuck": "antelope",
  "animals/mammals/bovines/mountaingoat": "mountain goat",
  "animals/mammals/bovines/yak": "yak",
  "animals/mammals/camel/camel": "camel",
  "animals/mammals/camel/dromedary": "camel",
  "animals/mammals/cats/lion": "lion",
  "animals/mammals/cats/lion-2": "lion",
  "animals/mammals/cats/tiger": "tiger",
  "animals/mammals/cats/tiger_sumatran": "tiger",
  "animals/mammals/dogs/fox": "fox",
  "animals/mammals/elephant": "elephant",
  "animals/mammals/equines/donkey": "donkey",
  "animals/mammals/equines/donkey_eating": "donkey",
  "animals/mammals/equines/horse": "horse",
  "animals/mammals/equines/zebra": "zebra",
  "animals/mammals/ferret": "ferret",
  "animals/mammals/giraffe": "giraffe",
  "animals/mammals/hippopotamus": "hippopotamus",
  "animals/mammals/rhino_black": "rhinoceros",
  "animals/mammals/rodents/beaver": "beaver",
  "animals/mammals/rodents/capybara": "capybara",
  "animals/mammals/rodents/marmot": "marmot",
  "animals/mammals/rodents/mouse": "mouse",
  "animals/mammals/rodents/rat": "rat",
  "animals/mammals/rodents/squirrel": "squirrel",
  "animals/mammals/wildboar": "wild boar",
  "animals/marsupials/kangaroo": "kangaroo",
  "animals/marsupials/koala": "koala",
  "animals/marsupials/wombat": "wombat",
  "animals/shellfish/abalone": "abalone",
  "animals/shellfish/murray-mussel": "mussel",
  "food/fruit/Apricot_whole": "apricot",
  "food/fruit/Cherry_Stella": "pair of cherries",
  "food/fruit/Strawberry2": "strawberry",
  "food/fruit/avocado": "avocado",
  "food/fruit/banana": "banana",
  "food/fruit/cherimoya": "cherimoya",
  "food/fruit/grapes": "bunch of grapes",
  "food/fruit/kiwi": "kiwi",
  "food/fruit/lemon": "lemon",
  "food/fruit/mango": "mango",
  "food/fruit/pear": "pear",
  "food/fruit/pineapple": "pineapple",
  "food/fruit/pomegranate": "pomegranate",
  "food/fruit/raspberry": "raspberry",
  "food/fruit/sliced_lime": "lime",
  "food/nuts/walnut": "walnut",
  "food/spices/ginger": "ginger root",
  "food/vegetables/broccoli": "head of broccoli",
  "food/vegetables/carrot": "carrot",
  "food/vegetables/chilepepper": "chili pepper",
  "food/vegetables/corn": "ear of corn",
  "food/vegetables/eggplant": "eggplant",
  "food/vegetables/garlic": "garlic bulb",
  "food/vegetables/lettuce": "head of lettuce",
  "food/vegetables/onion": "onion",
  "food/vegetables/pepper": "bell pepper",
  "food/vegetables/potato": "potato",
  "food/vegetables/pumpkin_small": "pumpkin",
  "food/vegetables/tomato": "tomato",
  "food/vegetables/yam": "yam",
  "food/vegetables/yellowpepper": "bell pepper",
  "hobbies/binoculars": "pair of binoculars",
  "hobbies/camera_35mm": "camera",
  "hobbies/music/brass/trumpet": "trumpet",
  "hobbies/music/percussion/drumkit": "drum kit",
  "hobbies/music/string/cello": "cello",
  "hobbies/music/string/violin": "violin",
  "household/Lightbulb": "light bulb",
  "household/cylinder": "gas cylinder",
  "household/dishes/glass": "glass",
  "household/dishes/mug": "mug",
  "household/dishes/pitcher_small": "pitcher",
  "household/dishes/teapot": "teapot",
  "household/garbagecan": "garbage can",
  "household/kettle": "kettle",
  "household/rubberduck": "rubber duck",
  "household/toilet": "toilet",
  "household/tools/cementmixer": "cement mixer",
  "household/tools/hammer": "hammer",
  "household/tools/plyers": "pair of pliers",
  "household/tools/saw": "saw",
  "household/tools/toolbox": "toolbox",
  "household/tools/wrench_plumbers": "wrench",
  "household/wheelie_bin": "wheelie bin",
  "medical/stethoscope": "stethoscope",
  "military/vehicles/infantry-stryker": "armoured vehicle",
  "people/fireman200b": "firefighter",
  "space/apollo_lander": "lunar lander",
  "space/spacewalk": "astronaut",
  "sports/trophy_cup": "trophy",
  "town/uk_post_box": "post box",
  "town/usps_mailbox": "mailbox",
  "vehicles/construction/dumper": "dumper",
  "vehicles/flight/balloon360": "hot air balloon",
  "vehicles/masstransit/green_korean_bus": "bus",
  "vehicles/wheel_tractor": "tractor wheel",
};

/** Photographic wallpapers only (no renders or abstract art); the held-back ones show no vocabulary object. */
const BACKGROUNDS: BackgroundEntry[] = [
  ...(
    [
      ["Aqua", "by the water", "train"],
      ["Blinds", "in front of green leaves", "train"],
      ["Dune", "on a sand dune", "val"],
      ["FreshFlower", "in front of an orange flower", "train"],
      ["Garden", "in a garden", "train"],
      ["GreenMeadow", "on the grass", "train"],
      ["LadyBird", "in a meadow", "train"],
      ["RainDrops", "on a wet leaf", "train"],
      ["Storm", "under a stormy sky", "val"],
      ["TwoWings", "in a field", "train"],
      ["Wood", "on a wooden floor", "train"],
      ["YellowFlower", "in front of a yellow flower", "train"],
    ] as const
  ).map(([name, scene, split]) => ({ path: `usr/share/backgrounds/mate/nature/${name}.jpg`, scene, split })),
  ...(
    [
      ["BytheWater", "by a lake", "train"],
      ["ColdRipple", "on a misty pier", "val"],
      ["ColorfulCups", "in front of colourful cups", "train"],
      ["DarkestHour", "by a lake at dusk", "train"],
      ["EveningGlow", "on a lake shore at sunset", "train"],
      ["FallenLeaf", "among autumn leaves", "train"],
      ["Grey", "in front of a modern building", "val"],
      ["Kite", "in the sky", "train"],
      ["OneStandsOut", "on moss", "train"],
      ["Path", "in a forest", "val"],
      ["summer_1am", "by a lake at night", "train"],
    ] as const
  ).map(([name, scene, split]) => ({
    path: `usr/share/wallpapers/${name}/contents/images/${name === "ColorfulCups" ? "2560x1600" : "1920x1200"}.jpg`,
    scene,
    split,
  })),
];

/** The built-in catalog: Debian's packages as installed by {@link APT_LINE} under `root` (default `/`). */
export function debianCatalog(root = "/"): Catalog {
  const stamps: StampEntry[] = [];
  for (const [name, entry] of Object.entries(CLASSES)) {
    for (const split of ["train", "val"] as const) {
      for (const [path, specific] of Object.entries(entry[split])) {
        stamps.push({ path, class: name, name: specific, split });
      }
    }
  }
  for (const [path, name] of Object.entries(TRAINING_ONLY)) stamps.push({ path, name, split: "train" });
  return {
    stampRoot: join(root, "usr/share/tuxpaint/stamps"),
    backgroundRoot: root,
    classes: Object.entries(CLASSES).map(([name, entry]) => ({ name, synonyms: entry.synonyms })),
    stamps,
    backgrounds: BACKGROUNDS,
    packages: DEBIAN_PACKAGES,
  };
}

/**
 * The catalog with its held-back stamps and backgrounds replaced by the training ones: validation images then
 * show what training saw, in new placements and crops — S-Seg+'s setting, where the target data set's training
 * and validation images share one distribution (`sseg data composites --val-from train`).
 */
export function withSeenValidation(catalog: Catalog): Catalog {
  const seen = <T extends { split: Split }>(entries: readonly T[], keep: (entry: T) => boolean): T[] => [
    ...entries.filter((e) => e.split === "train"),
    ...entries.filter((e) => e.split === "train" && keep(e)).map((e) => ({ ...e, split: "val" as const })),
  ];
  return {
    ...catalog,
    stamps: seen(catalog.stamps, (s) => s.class !== undefined),
    backgrounds: seen(catalog.backgrounds, () => true),
  };
}

/**
 * The nouns the training captions use for objects: class words, their synonyms and the training stamps' own nouns
 * (validation stamps' nouns never appear in training captions).
 */
export function catalogNouns(catalog: Catalog): string[] {
  const nouns = new Set<string>();
  for (const entry of catalog.classes) for (const word of [entry.name, ...entry.synonyms]) nouns.add(word);
  for (const stamp of catalog.stamps) if (stamp.split === "train") nouns.add(stamp.name);
  return [...nouns];
}

/**
 * One general word per listed class that training never uses for it (neither in captions nor as an implied
 * target), though it does for other classes: evaluation can then call the class by a word learned only from
 * others (`sseg eval --rename bear=mammal,…`), the test of whether general class names work.
 */
/** The composites' class words in vocabulary order: what a model trained on them can name (the demo's vocabulary). */
export const COMPOSITE_CLASSES: readonly string[] = Object.keys(CLASSES);

export const HELD_OUT_GENERAL_WORDS: Record<string, string> = {
  bear: "mammal",
  deer: "animal",
  orange: "fruit",
  tree: "plant",
  truck: "vehicle",
  airplane: "craft",
};

/**
 * What a caption's noun also names, for the noun targets' hierarchy: a class word its synonyms and the class's
 * general words (WordNet hypernyms, `GENERAL_WORDS`, less `HELD_OUT_GENERAL_WORDS`); a training stamp's noun
 * ("sparrow") its class words too.
 */
export function catalogImpliedNouns(
  catalog: Catalog,
  { generalWords = true }: { generalWords?: boolean } = {},
): Record<string, string[]> {
  const implied: Record<string, string[]> = {};
  const add = (noun: string, words: readonly string[]) => {
    const set = new Set([...(implied[noun] ?? []), ...words]);
    set.delete(noun);
    implied[noun] = [...set];
  };
  const classWords = new Map(catalog.classes.map((c) => [c.name, [c.name, ...c.synonyms]]));
  const wider = (name: string) => [
    ...classWords.get(name)!,
    ...(generalWords ? (GENERAL_WORDS[name] ?? []) : []).filter(
      (word) => word !== HELD_OUT_GENERAL_WORDS[name],
    ),
  ];
  for (const entry of catalog.classes)
    for (const word of classWords.get(entry.name)!) add(word, wider(entry.name));
  for (const stamp of catalog.stamps)
    if (stamp.split === "train" && stamp.class !== undefined && classWords.has(stamp.class))
      add(stamp.name, wider(stamp.class));
  return implied;
}

export class CatalogError extends Error {
  override name = "CatalogError";
}

/** Read a catalog from JSON; relative roots are resolved against the JSON file's folder. */
export async function readCatalog(file: string): Promise<Catalog> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CatalogError(
      code === "ENOENT"
        ? `${file}: no such catalog file`
        : `${file}: not valid JSON (${(err as Error).message})`,
    );
  }
  const folder = join(file, "..");
  const catalog = parsed as Partial<Catalog>;
  const fail = (what: string): never => {
    throw new CatalogError(`${file}: ${what}`);
  };
  if (typeof catalog !== "object" || catalog === null) fail("expected a JSON object");
  for (const key of ["classes", "stamps", "backgrounds"] as const) {
    if (!Array.isArray(catalog[key])) fail(`"${key}" must be an array`);
  }
  const resolveRoot = (root: unknown, key: string): string => {
    if (root === undefined) return folder;
    if (typeof root !== "string") return fail(`"${key}" must be a string`);
    return isAbsolute(root) ? root : join(folder, root);
  };
  const result: Catalog = {
    stampRoot: resolveRoot(catalog.stampRoot, "stampRoot"),
    backgroundRoot: resolveRoot(catalog.backgroundRoot, "backgroundRoot"),
    classes: (catalog.classes as ClassEntry[]).map((c, i) => ({
      name: typeof c?.name === "string" ? c.name : fail(`classes[${i}].name must be a string`),
      synonyms: Array.isArray(c.synonyms) ? c.synonyms.map(String) : [c.name],
    })),
    stamps: catalog.stamps as StampEntry[],
    backgrounds: catalog.backgrounds as BackgroundEntry[],
    packages: Array.isArray(catalog.packages) ? catalog.packages.map(String) : [],
  };
  validateCatalog(result, file);
  return result;
}

/** Every stamp and background well-formed, classes known, and each class with stamps in both splits. */
export function validateCatalog(catalog: Catalog, source: string): void {
  const fail = (what: string): never => {
    throw new CatalogError(`${source}: ${what}`);
  };
  const classNames = new Set(catalog.classes.map((c) => c.name));
  if (classNames.size === 0) fail("no classes");
  if (classNames.has("background")) fail('"background" is class 0 already; do not list it');
  catalog.stamps.forEach((s, i) => {
    if (typeof s?.path !== "string" || s.path === "") fail(`stamps[${i}].path must be a non-empty string`);
    if (typeof s.name !== "string" || s.name === "") fail(`stamps[${i}] (${s.path}): name must be a string`);
    if (s.split !== "train" && s.split !== "val")
      fail(`stamps[${i}] (${s.path}): split must be train or val`);
    if (s.class !== undefined && !classNames.has(s.class))
      fail(`stamps[${i}] (${s.path}): unknown class "${s.class}"`);
    if (s.class === undefined && s.split === "val")
      fail(`stamps[${i}] (${s.path}): a val stamp needs a class`);
  });
  catalog.backgrounds.forEach((b, i) => {
    if (typeof b?.path !== "string" || b.path === "")
      fail(`backgrounds[${i}].path must be a non-empty string`);
    if (typeof b.scene !== "string") fail(`backgrounds[${i}] (${b.path}): scene must be a string`);
    if (b.split !== "train" && b.split !== "val")
      fail(`backgrounds[${i}] (${b.path}): split must be train or val`);
  });
  for (const name of classNames) {
    for (const split of ["train", "val"] as const) {
      if (!catalog.stamps.some((s) => s.class === name && s.split === split))
        fail(`class "${name}" has no ${split} stamp`);
    }
  }
  for (const split of ["train", "val"] as const) {
    if (!catalog.backgrounds.some((b) => b.split === split)) fail(`no ${split} background`);
  }
}
