//! The word lists the generator draws from.

pub(super) const FIRST_NAMES: &[&str] = &[
    "Adela",
    "Bram",
    "Celia",
    "Dorian",
    "Elsie",
    "Florin",
    "Greta",
    "Hollis",
    "Ines",
    "Jasper",
    "Katrin",
    "Leander",
    "Mirela",
    "Niall",
    "Odette",
    "Perrin",
    "Quilla",
    "Rowan",
    "Sabine",
    "Tobias",
    "Ursa",
    "Viggo",
    "Wilhelmina",
    "Xander",
    "Yvette",
    "Zeno",
    "Anouk",
    "Basil",
    "Corinne",
    "Dashiell",
    "Estelle",
    "Fenwick",
    "Giselle",
    "Hugo",
    "Isolde",
    "Jonah",
    "Kestrel",
    "Lorelei",
    "Magnus",
    "Nerissa",
    "Oswin",
    "Philippa",
    "Quentin",
    "Rosalind",
    "Silas",
    "Theodora",
    "Ulric",
    "Verena",
    "Wendell",
    "Ximena",
    "Yorick",
    "Zelda",
    "Aurelio",
    "Brigid",
    "Cosmo",
    "Delphine",
    "Emrys",
    "Fiona",
    "Gideon",
    "Henrietta",
];

pub(super) const LAST_NAMES: &[&str] = &[
    "Ashdown",
    "Brightwater",
    "Calloway",
    "Dunmore",
    "Everly",
    "Fairweather",
    "Galloway",
    "Hartwell",
    "Ingram",
    "Jessop",
    "Kingsley",
    "Lockhart",
    "Merriweather",
    "Northcott",
    "Oakhurst",
    "Pemberton",
    "Quimby",
    "Ravenscroft",
    "Sterling",
    "Thistlewood",
    "Underhill",
    "Vanterpool",
    "Whitlock",
    "Yardley",
    "Zimmerman",
    "Abernathy",
    "Blackwood",
    "Crowther",
    "Davenport",
    "Ellsworth",
    "Fitzroy",
    "Greenhalgh",
    "Holloway",
    "Iverson",
    "Jardine",
    "Kettering",
    "Lindqvist",
    "Marchetti",
    "Nakamura",
    "Okonkwo",
    "Petrovic",
    "Quarshie",
    "Rasmussen",
    "Szabo",
    "Takahashi",
    "Uribe",
    "Valdivia",
    "Wojcik",
    "Xiong",
    "Yilmaz",
];

pub(super) const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ren", "dor", "sa", "vel", "tha", "bri", "an", "el", "is", "or", "wyn", "ma",
    "ri", "to", "sel", "qua", "zen", "fa", "gor", "hal", "ju", "nim", "pe", "ru", "ste",
];

pub(super) const PLACE_ENDINGS: &[&str] = &[
    "ford", "haven", "mere", "ton", "dale", "port", "esius", "wick",
];

pub(super) const STORY_OPENINGS: &[&str] = &[
    "In the misty harbour town of {place}",
    "In the quiet mountain village of {place}",
    "In the bustling city of {place}",
    "In the sunlit valley town of {place}",
];

pub(super) const OCCUPATIONS: &[&str] = &[
    "clockmaker",
    "baker",
    "cartographer",
    "violinist",
    "gardener",
    "lighthouse keeper",
    "librarian",
    "blacksmith",
    "painter",
    "herbalist",
    "sailor",
    "astronomer",
];

pub(super) const HOBBIES: &[&str] = &[
    "collecting old maps",
    "carving wooden birds",
    "writing letters to strangers",
    "growing blue roses",
    "reading forgotten poems",
    "building paper kites",
    "studying the stars",
    "baking cinnamon bread",
];

pub(super) const OBJECTS: &[&str] = &[
    "a silver compass",
    "a locked wooden chest",
    "a faded love letter",
    "a glass key",
    "a map of hidden tunnels",
    "a music box that played by itself",
    "a brass telescope",
    "a painting of a stranger",
];

pub(super) const HIDING_PLACES: &[&str] = &[
    "beneath the old bridge",
    "inside the bell tower",
    "behind the bakery oven",
    "under the floor of the library",
    "in the roots of an ancient oak",
    "at the bottom of the well",
];

pub(super) const OUTCOMES: &[&str] = &[
    "returned it to the family who had lost it long ago",
    "used it to find a forgotten garden",
    "gave it to the town museum",
    "followed its clues to the edge of the sea",
    "kept it as a promise of friendship",
];

pub(super) const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

pub(super) const STREET_DIRECTIONS: &[&str] = &["North", "South", "East", "West"];
pub(super) const STREET_TYPES: &[&str] = &["Street", "Avenue", "Place", "Drive", "Court"];

/// (city, state, zip prefix)
pub(super) const CITIES: &[(&str, &str, u32)] = &[
    ("Orange", "CA", 928),
    ("Louisville", "KY", 402),
    ("Denver", "CO", 802),
    ("Madison", "WI", 537),
    ("Tucson", "AZ", 857),
    ("Raleigh", "NC", 276),
    ("Portland", "OR", 972),
    ("Albany", "NY", 122),
    ("Boise", "ID", 837),
    ("Omaha", "NE", 681),
];

pub(super) const JOBS: &[&str] = &[
    "works as a dental hygienist",
    "teaches middle school science",
    "runs a small bakery",
    "is a civil engineer",
    "manages a bookstore",
    "works as a paramedic",
    "is a freelance photographer",
];

pub(super) const NATIONALITIES: &[&str] = &[
    "Danish",
    "Chilean",
    "Nigerian",
    "Canadian",
    "Portuguese",
    "Korean",
    "Hungarian",
    "Irish",
];

pub(super) const PROFESSIONS: &[&str] = &[
    "botanist",
    "sculptor",
    "cyclist",
    "architect",
    "composer",
    "chemist",
    "novelist",
    "diplomat",
];

pub(super) const INSTITUTIONS: &[&str] = &[
    "the University of Lisbon",
    "the Royal Academy of Music",
    "McGill University",
    "the University of Lagos",
    "Trinity College Dublin",
    "Seoul National University",
];

pub(super) const AWARDS: &[&str] = &[
    "the Golden Quill Prize",
    "the Order of Merit",
    "the Meridian Medal",
    "the Northern Star Award",
    "the Aurora Fellowship",
];

pub(super) const WORKS: &[&str] = &[
    "research on alpine mosses",
    "a cycle of bronze figures",
    "a series of string quartets",
    "the design of a floating library",
    "a study of coastal erosion",
    "a trilogy of novels",
];
