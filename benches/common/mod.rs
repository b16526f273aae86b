//! Deterministic generator of realistic server-to-client XMPP traffic.
//!
//! [`generate`] produces one stream prefix as a server would send it to a
//! client after authentication: an XML declaration, the `<stream:stream>`
//! header, `<stream:features>`, the resource-binding result, an initial
//! roster and presence flood, and then a long mix of stanzas (one-to-one chat,
//! chat states, receipts, MUC traffic with join bursts and history, carbons,
//! MAM results, OMEMO messages, PEP notifications, pings, disco, roster
//! pushes, stream-management nonzas) separated by occasional whitespace
//! keepalives. The stream is left open (see [`generate_closed`]).
//!
//! The output is well-formed XML 1.0 as restricted by RFC 6120: no comments,
//! processing instructions (other than the leading declaration), DOCTYPE or
//! CDATA; only the five predefined entities and character references; valid
//! UTF-8 without control characters. [`validate`] checks this (strictly for
//! the lexical parts, with quick-xml for structure and namespaces).
//!
//! Only a small self-contained PRNG (SplitMix64) is used, so a given
//! `(target_bytes, seed)` always yields exactly the same bytes.

// Each bench includes this module and uses only part of it.
#![allow(dead_code)]

pub mod alloc;

use std::io::Write as _;

/// The server domain of the generated stream.
pub const SERVER: &str = "example.com";
/// The bare JID of the receiving client.
pub const ME_BARE: &str = "juliet@example.com";
/// The full JID of the receiving client.
pub const ME_FULL: &str = "juliet@example.com/balcony";
/// The closing tag appended by [`generate_closed`].
pub const STREAM_CLOSE: &str = "</stream:stream>";

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// A generated corpus.
pub struct Corpus {
    /// The bytes as received from the server.
    pub bytes: Vec<u8>,
    /// Number of top-level elements (children of `<stream:stream>`).
    pub elements: usize,
    /// Length of the XML declaration plus stream header.
    pub header_len: usize,
    /// Composition by kind of top-level element.
    pub kinds: Vec<KindStats>,
}

/// Count and size of one kind of top-level element.
#[derive(Clone, Debug)]
pub struct KindStats {
    /// Short name of the kind.
    pub name: &'static str,
    /// Number of top-level elements of this kind.
    pub count: usize,
    /// Bytes of those elements (without the whitespace between elements).
    pub bytes: usize,
}

impl Corpus {
    /// A human-readable table of the composition.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let total = self.bytes.len().max(1);
        let in_elements: usize = self.kinds.iter().map(|k| k.bytes).sum();
        s.push_str(&format!(
            "corpus: {} bytes ({:.2} MiB), {} top-level elements, avg {:.0} B/element, header {} B, inter-element whitespace {} B\n",
            self.bytes.len(),
            self.bytes.len() as f64 / (1024.0 * 1024.0),
            self.elements,
            in_elements as f64 / self.elements.max(1) as f64,
            self.header_len,
            self.bytes.len() - in_elements - self.header_len,
        ));
        s.push_str(&format!(
            "  {:<16} {:>8} {:>7} {:>12} {:>7} {:>9}\n",
            "kind", "count", "count%", "bytes", "bytes%", "avg B"
        ));
        for k in &self.kinds {
            if k.count == 0 {
                continue;
            }
            s.push_str(&format!(
                "  {:<16} {:>8} {:>6.1}% {:>12} {:>6.1}% {:>9.0}\n",
                k.name,
                k.count,
                100.0 * k.count as f64 / self.elements.max(1) as f64,
                k.bytes,
                100.0 * k.bytes as f64 / total as f64,
                k.bytes as f64 / k.count as f64,
            ));
        }
        s
    }
}

/// Generates an unclosed stream of at least `target_bytes` bytes.
pub fn generate(target_bytes: usize, seed: u64) -> Corpus {
    let mut g = Gen::new(seed);
    g.header();
    let header_len = g.out.len();
    g.preamble();
    while g.out.len() < target_bytes {
        g.random_stanza();
    }
    g.finish(header_len)
}

/// Like [`generate`], with `</stream:stream>` appended.
pub fn generate_closed(target_bytes: usize, seed: u64) -> Corpus {
    let mut c = generate(target_bytes, seed);
    c.bytes.extend_from_slice(STREAM_CLOSE.as_bytes());
    c
}

/// Deterministic pseudo-random chunk lengths in `min..=max` covering `total` bytes.
pub fn chunk_lengths(total: usize, min: usize, max: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed);
    let mut v = Vec::new();
    let mut left = total;
    while left > 0 {
        let n = rng.range(min, max).min(left);
        v.push(n);
        left -= n;
    }
    v
}

// ---------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------

/// SplitMix64 (Steele, Lea, Flood 2014). Small, fast, good enough here.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < p
    }
    /// A uniformly chosen element.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    /// A uniformly chosen element, copied.
    pub fn choose<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

// ---------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Script {
    English,
    Latin1,
    Cyrillic,
    Greek,
    Cjk,
    Arabic,
    Emoji,
}

impl Script {
    fn words(self) -> &'static [&'static str] {
        match self {
            Script::English | Script::Emoji => EN_WORDS,
            Script::Latin1 => LATIN1_WORDS,
            Script::Cyrillic => CYRILLIC_WORDS,
            Script::Greek => GREEK_WORDS,
            Script::Cjk => CJK_WORDS,
            Script::Arabic => ARABIC_WORDS,
        }
    }
    fn spaced(self) -> bool {
        self != Script::Cjk
    }
    fn lang(self, rng: &mut SplitMix64) -> &'static str {
        match self {
            Script::English | Script::Emoji => rng.choose(&["en", "en", "en", "en-US", "en-GB"]),
            Script::Latin1 => rng.choose(&["fr", "de", "es", "pt-BR", "da"]),
            Script::Cyrillic => "ru",
            Script::Greek => "el",
            Script::Cjk => rng.choose(&["zh", "ja", "ko", "zh-Hans"]),
            Script::Arabic => "ar",
        }
    }
    fn punct(self) -> &'static [&'static str] {
        match self {
            Script::Cjk => &["。", "，", "？", "！", "、"],
            Script::Arabic => &["،", ".", "؟", "!"],
            Script::Greek => &[".", ",", ";", "!"],
            _ => &[".", ",", "!", "?", "…", ":", ";", "..."],
        }
    }
    /// Weighted choice of a user's language: mostly English.
    fn random(rng: &mut SplitMix64) -> Script {
        match rng.below(100) {
            0..=54 => Script::English,
            55..=66 => Script::Latin1,
            67..=76 => Script::Cyrillic,
            77..=80 => Script::Greek,
            81..=88 => Script::Cjk,
            89..=92 => Script::Arabic,
            _ => Script::Emoji,
        }
    }
}

const EN_WORDS: &[&str] = &[
    "the",
    "be",
    "to",
    "of",
    "and",
    "a",
    "in",
    "that",
    "have",
    "I",
    "it",
    "for",
    "not",
    "on",
    "with",
    "he",
    "as",
    "you",
    "do",
    "at",
    "this",
    "but",
    "his",
    "by",
    "from",
    "they",
    "we",
    "say",
    "her",
    "she",
    "or",
    "an",
    "will",
    "my",
    "one",
    "all",
    "would",
    "there",
    "their",
    "what",
    "so",
    "up",
    "out",
    "if",
    "about",
    "who",
    "get",
    "which",
    "go",
    "me",
    "when",
    "make",
    "can",
    "like",
    "time",
    "no",
    "just",
    "him",
    "know",
    "take",
    "people",
    "into",
    "year",
    "your",
    "good",
    "some",
    "could",
    "them",
    "see",
    "other",
    "than",
    "then",
    "now",
    "look",
    "only",
    "come",
    "its",
    "over",
    "think",
    "also",
    "back",
    "after",
    "use",
    "two",
    "how",
    "our",
    "work",
    "first",
    "well",
    "way",
    "even",
    "new",
    "want",
    "because",
    "any",
    "these",
    "give",
    "day",
    "most",
    "us",
    "meeting",
    "lunch",
    "tomorrow",
    "ok",
    "okay",
    "lol",
    "thanks",
    "sure",
    "server",
    "deploy",
    "build",
    "link",
    "yeah",
    "hey",
    "hi",
    "coffee",
    "later",
    "tonight",
    "weekend",
    "release",
    "branch",
    "merge",
    "ticket",
    "bug",
    "fixed",
    "works",
    "broken",
    "again",
    "really",
    "maybe",
    "soon",
    "minutes",
    "call",
    "phone",
    "home",
    "office",
    "train",
    "late",
    "sorry",
    "great",
    "nice",
    "cool",
    "agreed",
    "exactly",
    "probably",
    "XMPP",
    "Prosody",
    "ejabberd",
    "Conversations",
    "Gajim",
    "Dino",
    "OMEMO",
    "TLS",
    "IPv6",
];
/// English-ish tokens that need escaping or look like markup.
const EN_SPECIAL: &[&str] = &[
    "&",
    "R&D",
    "AT&T",
    "<3",
    "a<b",
    "b>a",
    "->",
    "<-",
    "=>",
    "it's",
    "don't",
    "I'm",
    "can't",
    "\"quoted\"",
    "'single'",
    "<b>bold</b>",
    "<script>",
    "x && y",
    "1 < 2",
    "5 > 4",
    "&amp;",
    "&lt;tag&gt;",
    "https://example.org/a?b=1&c=2",
    "mailto:a@b.example?subject=x&body=y",
    "(see above)",
    "#42",
    "100%",
    "$5",
    "@romeo",
    "C++",
    "[WIP]",
    "{json}",
    "~/bin",
    "i.e.",
    "e.g.",
    "foo_bar",
    "`code`",
    "*stars*",
    "Tom & Jerry",
    "\"double\" & 'single'",
];
const LATIN1_WORDS: &[&str] = &[
    "café",
    "naïve",
    "über",
    "straße",
    "Müller",
    "garçon",
    "déjà",
    "vu",
    "señor",
    "mañana",
    "año",
    "São",
    "Paulo",
    "crème",
    "brûlée",
    "à",
    "bientôt",
    "Größe",
    "Ærø",
    "øl",
    "fjörd",
    "élève",
    "où",
    "être",
    "très",
    "voilà",
    "Zürich",
    "Ñandú",
    "demain",
    "réunion",
    "merci",
    "bien",
    "oui",
    "non",
    "Grüße",
    "schön",
    "gemütlich",
    "Brötchen",
    "Frühstück",
    "mädchen",
    "niño",
    "corazón",
    "está",
    "qué",
    "también",
    "informação",
    "não",
    "obrigado",
    "coração",
    "rødgrød",
    "smørrebrød",
    "Ångström",
    "façade",
    "cœur",
    "œuvre",
    "naïveté",
    "Noël",
    "Æsir",
    "et",
    "le",
    "la",
    "les",
    "und",
    "der",
    "die",
    "das",
    "el",
    "los",
    "que",
    "de",
    "en",
];
const CYRILLIC_WORDS: &[&str] = &[
    "привет",
    "как",
    "дела",
    "хорошо",
    "спасибо",
    "сегодня",
    "завтра",
    "встреча",
    "работа",
    "сервер",
    "почему",
    "нет",
    "да",
    "конечно",
    "Москва",
    "пожалуйста",
    "ещё",
    "всё",
    "я",
    "ты",
    "мы",
    "они",
    "это",
    "что",
    "где",
    "когда",
    "здравствуйте",
    "до",
    "свидания",
    "Київ",
    "дякую",
    "будь",
    "ласка",
    "добрий",
    "день",
    "Ёлка",
    "щука",
    "съезд",
    "объём",
];
const GREEK_WORDS: &[&str] = &[
    "γειά",
    "σου",
    "καλημέρα",
    "ευχαριστώ",
    "ναι",
    "όχι",
    "αύριο",
    "σήμερα",
    "δουλειά",
    "Αθήνα",
    "φίλε",
    "λόγος",
    "καλησπέρα",
    "παρακαλώ",
    "τι",
    "κάνεις",
    "πολύ",
    "καλά",
    "ΐ",
    "ΰ",
    "ψυχή",
    "ωραία",
    "Θεσσαλονίκη",
];
const CJK_WORDS: &[&str] = &[
    "你好",
    "今天",
    "明天",
    "我们",
    "会议",
    "谢谢",
    "没问题",
    "服务器",
    "开会",
    "吃饭",
    "了",
    "吗",
    "是",
    "的",
    "不",
    "在",
    "有",
    "这个",
    "那个",
    "什么",
    "时候",
    "こんにちは",
    "ありがとう",
    "東京",
    "今日は",
    "明日",
    "会議",
    "です",
    "ます",
    "よろしく",
    "お願いします",
    "カタカナ",
    "ひらがな",
    "안녕하세요",
    "감사합니다",
    "내일",
    "회의",
    "서버",
    "좋아요",
    "네",
    "𠜎",
    "𠀋",
    "漢字",
];
const ARABIC_WORDS: &[&str] = &[
    "مرحبا",
    "كيف",
    "حالك",
    "شكرا",
    "غدا",
    "اليوم",
    "نعم",
    "لا",
    "اجتماع",
    "صديقي",
    "السلام",
    "عليكم",
    "من",
    "في",
    "على",
    "إلى",
    "هذا",
    "الخادم",
    "جيد",
    "جدا",
    "שלום",
    "תודה",
];
const EMOJI: &[&str] = &[
    "😀",
    "😂",
    "👍",
    "❤️",
    "🎉",
    "🙏",
    "🔥",
    "😅",
    "🤔",
    "👀",
    "🚀",
    "✅",
    "🇫🇷",
    "👨‍👩‍👧",
    "🤷‍♂️",
    "👋🏽",
    "😭",
    "🥲",
    "🙂",
    "😉",
    "💯",
    "✨",
    "🍕",
    "☕",
    "🦀",
    "🐧",
    "⚠️",
    "©",
    "™",
];

const FIRST_NAMES: &[&str] = &[
    "romeo",
    "benvolio",
    "mercutio",
    "tybalt",
    "nurse",
    "paris",
    "alice",
    "bob",
    "carol",
    "dave",
    "eve",
    "mallory",
    "trent",
    "peggy",
    "victor",
    "walter",
    "anna",
    "jürgen",
    "zoë",
    "andré",
    "maría",
    "søren",
    "андрей",
    "наталья",
    "李雷",
    "韩梅梅",
    "たかし",
    "ελένη",
    "mohammed",
    "fatima",
    "sven",
    "olga",
    "kim",
    "lee",
    "hans",
    "emma",
    "noah",
    "liam",
    "mia",
    "lukas",
    "chen",
    "priya",
    "arjun",
    "sofia",
    "mateo",
    "yuki",
    "ivan",
    "nina",
];
const DISPLAY_NAMES: &[&str] = &[
    "Romeo Montague",
    "Benvolio",
    "Mercutio",
    "Tybalt Capulet",
    "The Nurse",
    "Count Paris",
    "Alice Liddell",
    "Bob",
    "Carol & Co",
    "Dave (work)",
    "Eve <eve@evil.example>",
    "Mallory",
    "Jürgen Müller",
    "Zoë Saldaña",
    "André Gide",
    "María José",
    "Søren Kierkegaard",
    "Андрей Петров",
    "Наталья",
    "李雷",
    "韩梅梅",
    "高橋たかし",
    "Ελένη",
    "محمد",
    "Fatima",
    "O'Neil",
    "\"Doc\" Brown",
    "Tom & Jerry",
    "Mom ❤️",
    "Dad",
    "🦀 Ferris",
    "Kim Lee",
    "Dr. Hans Wurst",
    "Emma",
    "Noah",
    "Liam",
    "Mia",
    "Lukas",
    "Chen Wei",
    "Priya",
    "Arjun",
];
const NICKS: &[&str] = &[
    "Zash",
    "MattJ",
    "Holger",
    "lovetox",
    "Link Mauve",
    "edhelas",
    "Ge0rG",
    "Kev",
    "jonas’",
    "pep.",
    "Tom & Jerry",
    "O'Brien",
    "\"quoted\"",
    "Zoë",
    "Дмитрий",
    "田中太郎",
    "أحمد",
    "Γιώργος",
    "user<3",
    "🦀 crab",
    "a>b",
    "Jérôme",
    "Ñoño",
    "x_x",
    "[away] sam",
    "daniel",
    "flow",
    "singpolyma",
    "moparisthebest",
    "larma",
    "Neustradamus",
    "emus",
    "wurstsalat",
    "MSavoritias",
    "qy",
    "Menel",
    "guus",
    "dwd",
    "jcbrand",
    "vanitasvitae",
    "pitchum",
    "bot",
    "ChanServ",
    "mañana",
    "Ævar",
    "привет_мир",
    "ゆき",
    "김민수",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.com",
    "example.com",
    "jabber.org",
    "xmpp.example.net",
    "conversations.im",
    "im.example.de",
    "chat.example.co.jp",
    "yax.im",
    "jabber.ccc.de",
    "macaw.me",
    "xmpp.jp",
    "disroot.org",
    "404.city",
    "jabber.ru",
    "blabber.im",
];
const RESOURCES: &[&str] = &[
    "Conversations.AbCd",
    "gajim.XYZ1QW2E",
    "Dino.a1b2c3d4",
    "phone",
    "laptop",
    "desktop",
    "Monal-iOS.8f3e",
    "Psi+",
    "poezio",
    "Movim",
    "work",
    "home",
    "tablet",
    "Siskin IM",
    "Cheogram.zz9q",
    "profanity",
    "mcabber",
    "Pidgin",
    "Beagle IM.3d1",
];
const ROOMS: &[&str] = &[
    "devs@conference.example.com",
    "xsf@muc.xmpp.org",
    "jdev@muc.xmpp.org",
    "prosody@conference.prosody.im",
    "rust@chat.example.net",
    "café@conference.example.fr",
    "lounge@conference.jabber.org",
    "offtopic@chat.example.net",
    "ops@conference.example.com",
    "общий@conference.jabber.ru",
];
const CAPS_NODES: &[&str] = &[
    "http://conversations.im",
    "https://gajim.org",
    "https://dino.im",
    "https://poez.io",
    "http://psi-im.org",
    "https://monal-im.org",
    "https://movim.eu/",
    "http://pidgin.im/",
    "https://siskin.tigase.org",
    "https://cheogram.com",
    "https://profanity-im.github.io",
];
const GROUPS: &[&str] = &[
    "Friends",
    "Work",
    "Family",
    "Família",
    "Коллеги",
    "家族",
    "R&D <team>",
    "Buddies",
    "Uni",
    "Football ⚽",
    "Gäste",
    "XSF",
    "Bots",
    "\"Close\" friends",
    "Ops & Infra",
];
const SHOWS: &[&str] = &["away", "chat", "dnd", "xa", "away", "dnd"];
const CHAT_STATES: &[&str] = &["active", "composing", "paused", "inactive", "gone"];
const CLIENT_FEATURES: &[&str] = &[
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/disco#items",
    "http://jabber.org/protocol/ibb",
    "http://jabber.org/protocol/muc",
    "http://jabber.org/protocol/nick",
    "http://jabber.org/protocol/nick+notify",
    "http://jabber.org/protocol/si",
    "http://jabber.org/protocol/si/profile/file-transfer",
    "http://jabber.org/protocol/xhtml-im",
    "http://jabber.org/protocol/bytestreams",
    "http://jabber.org/protocol/activity+notify",
    "http://jabber.org/protocol/geoloc+notify",
    "http://jabber.org/protocol/mood+notify",
    "http://jabber.org/protocol/tune+notify",
    "eu.siacs.conversations.axolotl.devicelist+notify",
    "jabber:iq:version",
    "jabber:iq:last",
    "jabber:x:conference",
    "jabber:x:oob",
    "urn:xmpp:avatar:metadata+notify",
    "urn:xmpp:bookmarks:1+notify",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:eme:0",
    "urn:xmpp:hashes:2",
    "urn:xmpp:hash-function-text-names:sha-256",
    "urn:xmpp:jingle:1",
    "urn:xmpp:jingle:apps:file-transfer:5",
    "urn:xmpp:jingle:apps:rtp:1",
    "urn:xmpp:jingle:apps:rtp:audio",
    "urn:xmpp:jingle:apps:rtp:video",
    "urn:xmpp:jingle:transports:ibb:1",
    "urn:xmpp:jingle:transports:ice-udp:1",
    "urn:xmpp:jingle:transports:s5b:1",
    "urn:xmpp:jingle-message:0",
    "urn:xmpp:message-correct:0",
    "urn:xmpp:message-retract:1",
    "urn:xmpp:ping",
    "urn:xmpp:receipts",
    "urn:xmpp:reactions:0",
    "urn:xmpp:reply:0",
    "urn:xmpp:sid:0",
    "urn:xmpp:time",
    "urn:xmpp:idle:1",
];
const SERVER_FEATURES: &[&str] = &[
    "http://jabber.org/protocol/commands",
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/disco#items",
    "http://jabber.org/protocol/pubsub#publish",
    "http://jabber.org/protocol/pubsub#publish-options",
    "msgoffline",
    "jabber:iq:private",
    "jabber:iq:register",
    "jabber:iq:roster",
    "jabber:iq:version",
    "jabber:iq:last",
    "urn:xmpp:blocking",
    "urn:xmpp:carbons:2",
    "urn:xmpp:carbons:rules:0",
    "urn:xmpp:mam:2",
    "urn:xmpp:mam:2#extended",
    "urn:xmpp:ping",
    "urn:xmpp:push:0",
    "urn:xmpp:time",
    "urn:xmpp:http:upload:0",
    "urn:xmpp:extdisco:2",
    "urn:xmpp:bookmarks:1#compat",
    "vcard-temp",
];

// ---------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Features,
    Bind,
    Roster,
    RosterPush,
    Chat,
    ChatState,
    Groupchat,
    Presence,
    MucPresence,
    Carbon,
    Mam,
    MamFin,
    Omemo,
    Pep,
    Ping,
    IqResult,
    IqGet,
    DiscoResult,
    Prefixed,
    SmNonza,
}

impl Kind {
    const ALL: [Kind; 20] = [
        Kind::Features,
        Kind::Bind,
        Kind::Roster,
        Kind::RosterPush,
        Kind::Chat,
        Kind::ChatState,
        Kind::Groupchat,
        Kind::Presence,
        Kind::MucPresence,
        Kind::Carbon,
        Kind::Mam,
        Kind::MamFin,
        Kind::Omemo,
        Kind::Pep,
        Kind::Ping,
        Kind::IqResult,
        Kind::IqGet,
        Kind::DiscoResult,
        Kind::Prefixed,
        Kind::SmNonza,
    ];
    fn name(self) -> &'static str {
        match self {
            Kind::Features => "stream:features",
            Kind::Bind => "bind result",
            Kind::Roster => "roster result",
            Kind::RosterPush => "roster push",
            Kind::Chat => "chat message",
            Kind::ChatState => "chatstate/rcpt",
            Kind::Groupchat => "groupchat msg",
            Kind::Presence => "presence",
            Kind::MucPresence => "muc presence",
            Kind::Carbon => "carbon",
            Kind::Mam => "mam result",
            Kind::MamFin => "mam fin iq",
            Kind::Omemo => "omemo message",
            Kind::Pep => "pep event",
            Kind::Ping => "ping iq",
            Kind::IqResult => "empty iq result",
            Kind::IqGet => "iq get",
            Kind::DiscoResult => "disco#info res",
            Kind::Prefixed => "prefixed-ns msg",
            Kind::SmNonza => "sm nonza",
        }
    }
}

struct Contact {
    bare: String,
    name: &'static str,
    resources: Vec<&'static str>,
    caps: (&'static str, String),
    script: Script,
    photo: String,
}

struct Occupant {
    nick: String,
    real: String,
    affiliation: &'static str,
    role: &'static str,
    occupant_id: String,
    caps: (&'static str, String),
    photo: Option<String>,
}

struct Room {
    jid: &'static str,
    occupants: Vec<Occupant>,
}

struct Gen {
    rng: SplitMix64,
    out: Vec<u8>,
    /// Quote character of the current stanza.
    q: u8,
    /// Pretty-print the current stanza (whitespace text between children).
    pretty: bool,
    /// Open elements inside the current stanza: "has element children".
    stack: Vec<bool>,
    /// Unix time, advancing as traffic is generated.
    clock: u64,
    sm_h: u64,
    contacts: Vec<Contact>,
    rooms: Vec<Room>,
    caps_pool: Vec<(&'static str, String)>,
    stats: Vec<(usize, usize)>,
    elements: usize,
}

fn other_quote(q: u8) -> u8 {
    if q == b'\'' {
        b'"'
    } else {
        b'\''
    }
}

impl Gen {
    fn new(seed: u64) -> Gen {
        let mut rng = SplitMix64::new(seed ^ 0x5851_F42D_4C95_7F2D);
        let mut caps_pool = Vec::new();
        for &node in CAPS_NODES {
            for _ in 0..rng.range(1, 3) {
                let ver = b64(&rand_bytes(&mut rng, 20));
                caps_pool.push((node, ver));
            }
        }
        let mut contacts = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for i in 0..160 {
            let first = rng.choose(FIRST_NAMES);
            let local = if rng.chance(0.4) {
                format!("{first}{}", rng.below(1000))
            } else if rng.chance(0.2) {
                format!("{first}.{}", rng.pick(FIRST_NAMES))
            } else {
                first.to_string()
            };
            let domain = rng.choose(DOMAINS);
            let mut bare = format!("{local}@{domain}");
            if seen.contains(&bare) {
                bare = format!("{local}.{i}@{domain}");
            }
            seen.insert(bare.clone());
            let nres = rng.range(1, 3);
            let resources = (0..nres).map(|_| rng.choose(RESOURCES)).collect();
            let caps = rng.pick(&caps_pool).clone();
            let script = Script::random(&mut rng);
            let photo = hex(&rand_bytes(&mut rng, 20));
            let name = rng.choose(DISPLAY_NAMES);
            contacts.push(Contact {
                bare,
                name,
                resources,
                caps,
                script,
                photo,
            });
        }
        let mut rooms = Vec::new();
        for &jid in ROOMS {
            let n = rng.range(15, 160);
            let mut occupants = Vec::new();
            for j in 0..n {
                let base = rng.choose(NICKS);
                let nick = if j < NICKS.len() && rng.chance(0.7) {
                    base.to_string()
                } else {
                    format!("{base}{j}")
                };
                let c = rng.below(contacts.len());
                let real = format!("{}/{}", contacts[c].bare, rng.pick(&contacts[c].resources));
                let (affiliation, role) = match rng.below(20) {
                    0 => ("owner", "moderator"),
                    1 | 2 => ("admin", "moderator"),
                    3..=11 => ("member", "participant"),
                    12..=18 => ("none", "participant"),
                    _ => ("none", "visitor"),
                };
                let occupant_id = b64(&rand_bytes(&mut rng, 16));
                let caps = rng.pick(&caps_pool).clone();
                let photo = if rng.chance(0.5) {
                    Some(hex(&rand_bytes(&mut rng, 20)))
                } else {
                    None
                };
                occupants.push(Occupant {
                    nick,
                    real,
                    affiliation,
                    role,
                    occupant_id,
                    caps,
                    photo,
                });
            }
            rooms.push(Room { jid, occupants });
        }
        Gen {
            rng,
            out: Vec::with_capacity(1 << 20),
            q: b'\'',
            pretty: false,
            stack: Vec::new(),
            clock: 1_715_000_000,
            sm_h: 0,
            contacts,
            rooms,
            caps_pool,
            stats: vec![(0, 0); Kind::ALL.len()],
            elements: 0,
        }
    }

    fn finish(self, header_len: usize) -> Corpus {
        let kinds = Kind::ALL
            .iter()
            .zip(&self.stats)
            .map(|(k, &(count, bytes))| KindStats {
                name: k.name(),
                count,
                bytes,
            })
            .collect();
        Corpus {
            bytes: self.out,
            elements: self.elements,
            header_len,
            kinds,
        }
    }

    // -- low-level writing --------------------------------------------------

    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn indent(&mut self, depth: usize) {
        self.out.push(b'\n');
        for _ in 0..depth {
            self.out.extend_from_slice(b"  ");
        }
    }

    /// `<name` (attributes follow).
    fn open(&mut self, name: &str) {
        if let Some(has_children) = self.stack.last_mut() {
            *has_children = true;
            if self.pretty {
                let d = self.stack.len();
                self.indent(d);
            }
        }
        self.out.push(b'<');
        self.raw(name);
    }

    /// `>` ending a start tag.
    fn gt(&mut self) {
        self.out.push(b'>');
        self.stack.push(false);
    }

    /// `/>` ending an empty element.
    fn empty(&mut self) {
        if self.rng.chance(0.04) {
            self.raw(" />");
        } else {
            self.raw("/>");
        }
    }

    fn end(&mut self, name: &str) {
        let had_children = self.stack.pop().expect("unbalanced end()");
        if self.pretty && had_children {
            let d = self.stack.len();
            self.indent(d);
        }
        self.raw("</");
        self.raw(name);
        self.out.push(b'>');
    }

    /// `<name>text</name>`.
    fn text_el(&mut self, name: &str, text: &str) {
        self.open(name);
        self.gt();
        self.text(text);
        self.end(name);
    }

    /// `<name xmlns='ns'/>`.
    fn ns_empty(&mut self, name: &str, ns: &str) {
        self.open(name);
        self.attr("xmlns", ns);
        self.empty();
    }

    /// `<name xmlns='ns'>` (the caller closes it).
    fn ns_open(&mut self, name: &str, ns: &str) {
        self.open(name);
        self.attr("xmlns", ns);
        self.gt();
    }

    fn attr(&mut self, name: &str, value: &str) {
        self.attr_impl(name, value, 0.0);
    }

    /// An attribute whose value is human text: occasionally uses character
    /// references for non-ASCII (and rarely ASCII) characters.
    fn attr_text(&mut self, name: &str, value: &str) {
        self.attr_impl(name, value, 0.08);
    }

    fn attr_impl(&mut self, name: &str, value: &str, cref_p: f64) {
        let q = if self.rng.chance(0.03) {
            other_quote(self.q)
        } else {
            self.q
        };
        self.out.push(b' ');
        self.raw(name);
        self.out.push(b'=');
        self.out.push(q);
        for c in value.chars() {
            match c {
                '&' => self.amp_ref(),
                '<' => self.lt_ref(),
                '>' => {
                    if self.rng.chance(0.5) {
                        self.raw("&gt;")
                    } else {
                        self.out.push(b'>')
                    }
                }
                '\'' | '"' => {
                    let must = c as u32 == q as u32;
                    if must || self.rng.chance(0.2) {
                        if self.rng.chance(0.1) {
                            self.char_ref(c);
                        } else if c == '\'' {
                            self.raw("&apos;");
                        } else {
                            self.raw("&quot;");
                        }
                    } else {
                        self.out.push(c as u8);
                    }
                }
                // Literal whitespace other than space would be normalized.
                '\n' | '\t' | '\r' => self.char_ref(c),
                _ => self.maybe_cref(c, cref_p),
            }
        }
        self.out.push(q);
    }

    fn text(&mut self, s: &str) {
        for c in s.chars() {
            match c {
                '&' => self.amp_ref(),
                '<' => self.lt_ref(),
                '>' => {
                    let n = self.out.len();
                    let after_brackets = n >= 2 && &self.out[n - 2..] == b"]]";
                    if after_brackets || self.rng.chance(0.85) {
                        self.raw("&gt;");
                    } else {
                        self.out.push(b'>');
                    }
                }
                '\'' => {
                    if self.rng.chance(0.25) {
                        self.raw("&apos;")
                    } else {
                        self.out.push(b'\'')
                    }
                }
                '"' => {
                    if self.rng.chance(0.25) {
                        self.raw("&quot;")
                    } else {
                        self.out.push(b'"')
                    }
                }
                '\r' => self.char_ref(c),
                _ => self.maybe_cref(c, 0.006),
            }
        }
    }

    fn amp_ref(&mut self) {
        match self.rng.below(40) {
            0 => self.raw("&#38;"),
            1 => self.raw("&#x26;"),
            _ => self.raw("&amp;"),
        }
    }

    fn lt_ref(&mut self) {
        match self.rng.below(40) {
            0 => self.raw("&#60;"),
            1 => self.raw("&#x3C;"),
            _ => self.raw("&lt;"),
        }
    }

    fn maybe_cref(&mut self, c: char, p: f64) {
        let p = if c.is_ascii() { p / 20.0 } else { p };
        if p > 0.0 && self.rng.chance(p) {
            self.char_ref(c);
        } else {
            let mut buf = [0u8; 4];
            self.out
                .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }

    fn char_ref(&mut self, c: char) {
        let v = c as u32;
        let r = match self.rng.below(4) {
            0 | 1 => write!(self.out, "&#{v};"),
            2 => write!(self.out, "&#x{v:X};"),
            _ => write!(self.out, "&#x{v:04x};"),
        };
        r.expect("write to Vec");
    }

    // -- values -------------------------------------------------------------

    fn id(&mut self) -> String {
        match self.rng.below(10) {
            0..=3 => self.uuid(),
            4..=7 => {
                let n = self.rng.range(8, 16);
                self.alnum(n)
            }
            8 => format!("purple{:08x}", self.rng.next_u64() as u32),
            _ => format!("{}-{}", self.alnum(5), self.rng.below(100_000)),
        }
    }

    fn uuid(&mut self) -> String {
        let a = self.rng.next_u64();
        let b = self.rng.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..n).map(|_| self.rng.choose(A) as char).collect()
    }

    fn tick(&mut self) -> u64 {
        self.clock += self.rng.below(20) as u64;
        self.clock
    }

    fn stamp(&mut self, secs: u64) -> String {
        let days = (secs / 86_400) as i64;
        let sod = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (sod / 3600, sod / 60 % 60, sod % 60);
        if self.rng.chance(0.5) {
            format!(
                "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:03}Z",
                self.rng.below(1000)
            )
        } else {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
        }
    }

    /// A past timestamp (for delays).
    fn past_stamp(&mut self, max_ago: u64) -> String {
        let ago = self.rng.below(max_ago as usize) as u64 + 1;
        let t = self.clock.saturating_sub(ago);
        self.stamp(t)
    }

    fn body_len(&mut self) -> usize {
        // Mostly short lines, a tail of pasted paragraphs; mean ~120 chars.
        match self.rng.below(1000) {
            0..=699 => self.rng.range(2, 50),
            700..=919 => self.rng.range(50, 200),
            920..=984 => self.rng.range(200, 1000),
            _ => self.rng.range(1000, 4000),
        }
    }

    /// Human text of about `chars` characters (exactly, unless very short).
    fn prose(&mut self, script: Script, chars: usize) -> String {
        let mut s = String::new();
        let mut n = 0usize;
        let mut first = true;
        while n < chars {
            let emoji_p = if script == Script::Emoji { 0.35 } else { 0.03 };
            let w: &'static str = if self.rng.chance(emoji_p) {
                self.rng.choose(EMOJI)
            } else if script != Script::Cjk && self.rng.chance(0.04) {
                self.rng.choose(EN_SPECIAL)
            } else if self.rng.chance(0.03) {
                // code switching
                let other = Script::random(&mut self.rng);
                self.rng.choose(other.words())
            } else {
                self.rng.choose(script.words())
            };
            if !first {
                if n > 0 && self.rng.chance(0.006) {
                    s.push('\n');
                    n += 1;
                    if self.rng.chance(0.3) {
                        s.push('\n');
                        n += 1;
                    }
                } else if script.spaced() || w.is_ascii() {
                    s.push(' ');
                    n += 1;
                }
            }
            first = false;
            s.push_str(w);
            n += w.chars().count();
            if self.rng.chance(0.08) {
                let p = self.rng.choose(script.punct());
                s.push_str(p);
                n += p.chars().count();
            }
        }
        if n > chars && chars >= 2 {
            // Trim to the exact length at a char boundary.
            let cut = s
                .char_indices()
                .nth(chars)
                .map(|(i, _)| i)
                .unwrap_or(s.len());
            s.truncate(cut);
        }
        s
    }

    fn contact(&mut self) -> usize {
        // Zipf-ish: a few contacts are much chattier than the rest.
        let n = self.contacts.len();
        let a = self.rng.below(n);
        let b = self.rng.below(n);
        a.min(b)
    }

    fn full_jid(&mut self, c: usize) -> String {
        let r = self.rng.choose(&self.contacts[c].resources);
        format!("{}/{}", self.contacts[c].bare, r)
    }

    fn script_for(&mut self, c: usize) -> Script {
        if self.rng.chance(0.85) {
            self.contacts[c].script
        } else {
            Script::random(&mut self.rng)
        }
    }

    // -- top level ----------------------------------------------------------

    fn header(&mut self) {
        let id = self.alnum(16);
        self.raw("<?xml version='1.0'?>");
        self.raw(
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='",
        );
        self.raw(&id);
        self.raw("' from='example.com' version='1.0' xml:lang='en'>");
    }

    /// Emits one top-level element of `kind` produced by `f`.
    fn top(&mut self, kind: Kind, f: impl FnOnce(&mut Gen)) {
        let start = self.out.len();
        self.q = if self.rng.chance(0.8) { b'\'' } else { b'"' };
        self.pretty = self.rng.chance(0.03);
        f(self);
        assert!(self.stack.is_empty(), "unbalanced stanza");
        let s = &mut self.stats[kind as usize];
        s.0 += 1;
        s.1 += self.out.len() - start;
        self.elements += 1;
        self.sm_h += 1;
        self.clock += 1;
        // Whitespace between elements: keepalives and newlines.
        match self.rng.below(1000) {
            0..=89 => self.out.push(b'\n'),
            90..=119 => self.out.push(b' '),
            120..=124 => self.raw("\n\n"),
            _ => {}
        }
    }

    fn preamble(&mut self) {
        self.top(Kind::Features, Gen::features);
        self.top(Kind::Bind, Gen::bind_result);
        self.top(Kind::SmNonza, |g| {
            let id = g.alnum(24);
            g.open("enabled");
            g.attr("xmlns", "urn:xmpp:sm:3");
            g.attr("id", &id);
            g.attr("resume", "true");
            g.attr("max", "300");
            g.empty();
        });
        let n = self.rng.range(150, 400);
        self.top(Kind::Roster, |g| g.roster_result(n));
        self.top(Kind::DiscoResult, |g| g.disco_result(true));
        // Initial presence flood from online contacts.
        for c in 0..self.contacts.len() {
            if self.rng.chance(0.6) {
                self.top(Kind::Presence, |g| g.presence_of(c, false));
            }
        }
    }

    fn random_stanza(&mut self) {
        // Weights in per-mille-ish units.
        let r = self.rng.below(10_000);
        match r {
            0..=2199 => self.top(Kind::Chat, |g| g.chat_message()),
            2200..=3599 => self.top(Kind::ChatState, |g| g.chat_state()),
            3600..=5499 => self.top(Kind::Groupchat, |g| g.groupchat(None)),
            5500..=6549 => {
                let c = self.contact();
                let unavailable = self.rng.chance(0.15);
                self.top(Kind::Presence, |g| g.presence_of(c, unavailable))
            }
            6550..=7399 => {
                if self.rng.chance(0.004) {
                    self.muc_join();
                } else {
                    let room = self.rng.below(self.rooms.len());
                    let occ = self.rng.below(self.rooms[room].occupants.len());
                    let unavailable = self.rng.chance(0.15);
                    self.top(Kind::MucPresence, |g| {
                        g.muc_presence(room, occ, unavailable, false)
                    });
                }
            }
            7400..=8099 => self.top(Kind::Carbon, |g| g.carbon()),
            8100..=8119 => self.mam_burst(),
            8120..=8429 => self.top(Kind::Omemo, |g| g.omemo()),
            8430..=8729 => self.top(Kind::Pep, |g| g.pep()),
            8730..=8879 => self.top(Kind::Ping, |g| g.ping()),
            8880..=9129 => self.top(Kind::IqResult, |g| g.iq_result_empty()),
            9130..=9279 => self.top(Kind::IqGet, |g| g.iq_get()),
            9280..=9379 => self.top(Kind::DiscoResult, |g| g.disco_result(false)),
            9380..=9409 => self.top(Kind::RosterPush, |g| g.roster_push()),
            9410..=9411 => {
                let n = self.rng.range(50, 500);
                self.top(Kind::Roster, |g| g.roster_result(n))
            }
            9412..=9499 => self.top(Kind::Prefixed, |g| g.prefixed()),
            _ => self.top(Kind::SmNonza, |g| g.sm_nonza()),
        }
    }

    // -- stanza builders ----------------------------------------------------

    fn features(&mut self) {
        self.open("stream:features");
        self.gt();
        self.ns_empty("bind", "urn:ietf:params:xml:ns:xmpp-bind");
        self.ns_open("session", "urn:ietf:params:xml:ns:xmpp-session");
        self.open("optional");
        self.empty();
        self.end("session");
        self.ns_empty("sm", "urn:xmpp:sm:3");
        self.ns_empty("csi", "urn:xmpp:csi:0");
        self.ns_empty("ver", "urn:xmpp:features:rosterver");
        self.open("c");
        self.attr("xmlns", "http://jabber.org/protocol/caps");
        self.attr("hash", "sha-1");
        self.attr("node", "http://prosody.im");
        let ver = b64(&rand_bytes(&mut self.rng, 20));
        self.attr("ver", &ver);
        self.empty();
        self.end("stream:features");
    }

    fn bind_result(&mut self) {
        self.open("iq");
        self.attr("type", "result");
        self.attr("id", "bind_1");
        self.gt();
        self.ns_open("bind", "urn:ietf:params:xml:ns:xmpp-bind");
        self.text_el("jid", ME_FULL);
        self.end("bind");
        self.end("iq");
    }

    fn roster_item(&mut self, jid: &str, name: Option<&str>) {
        self.open("item");
        self.attr("jid", jid);
        if let Some(name) = name {
            self.attr_text("name", name);
        }
        let sub = *self
            .rng
            .pick(&["both", "both", "both", "both", "to", "from", "none"]);
        self.attr("subscription", sub);
        if sub == "none" && self.rng.chance(0.3) {
            self.attr("ask", "subscribe");
        }
        let groups = match self.rng.below(10) {
            0..=2 => 0,
            3..=8 => 1,
            _ => 2,
        };
        if groups == 0 {
            self.empty();
        } else {
            self.gt();
            for _ in 0..groups {
                let g = self.rng.choose(GROUPS);
                self.text_el("group", g);
            }
            self.end("item");
        }
    }

    fn roster_result(&mut self, n: usize) {
        let id = self.id();
        let ver = self.alnum(12);
        self.open("iq");
        self.attr("type", "result");
        self.attr("id", &id);
        self.attr("to", ME_FULL);
        self.gt();
        self.open("query");
        self.attr("xmlns", "jabber:iq:roster");
        self.attr("ver", &ver);
        self.gt();
        for i in 0..n {
            let (jid, name) = if i < self.contacts.len() {
                let c = &self.contacts[i];
                (c.bare.clone(), Some(c.name))
            } else {
                let first = self.rng.choose(FIRST_NAMES);
                let domain = self.rng.choose(DOMAINS);
                let name = if self.rng.chance(0.7) {
                    Some(self.rng.choose(DISPLAY_NAMES))
                } else {
                    None
                };
                (format!("{first}.{i}@{domain}"), name)
            };
            let name = if self.rng.chance(0.9) { name } else { None };
            self.roster_item(&jid, name);
        }
        self.end("query");
        self.end("iq");
    }

    fn roster_push(&mut self) {
        let id = self.id();
        let ver = self.alnum(12);
        let c = self.rng.below(self.contacts.len());
        let jid = self.contacts[c].bare.clone();
        let name = self.contacts[c].name;
        self.open("iq");
        self.attr("type", "set");
        self.attr("id", &id);
        self.attr("to", ME_FULL);
        self.gt();
        self.open("query");
        self.attr("xmlns", "jabber:iq:roster");
        self.attr("ver", &ver);
        self.gt();
        self.roster_item(&jid, Some(name));
        self.end("query");
        self.end("iq");
    }

    /// The attributes and children of a one-to-one message; the caller has
    /// written `<message` and the caller closes it.
    fn chat_inner(&mut self, from: &str, to: &str, script: Script, jabber_client_ns: bool) {
        if jabber_client_ns {
            self.attr("xmlns", "jabber:client");
        }
        let id = self.id();
        if self.rng.chance(0.5) {
            self.attr("from", from);
            self.attr("to", to);
            self.attr("type", "chat");
            self.attr("id", &id);
        } else {
            self.attr("type", "chat");
            self.attr("id", &id);
            self.attr("to", to);
            self.attr("from", from);
        }
        if self.rng.chance(0.15) {
            let lang = script.lang(&mut self.rng);
            self.attr("xml:lang", lang);
        }
        self.gt();
        let len = self.body_len();
        let body = self.prose(script, len);
        self.text_el("body", &body);
        if self.rng.chance(0.01) {
            // A second body in another language.
            let s2 = Script::random(&mut self.rng);
            let l2 = s2.lang(&mut self.rng);
            let b2 = self.prose(s2, len.min(200));
            self.open("body");
            self.attr("xml:lang", l2);
            self.gt();
            self.text(&b2);
            self.end("body");
        }
        if self.rng.chance(0.1) {
            let t = self.uuid();
            self.text_el("thread", &t);
        }
        if self.rng.chance(0.6) {
            self.ns_empty("active", "http://jabber.org/protocol/chatstates");
        }
        if self.rng.chance(0.4) {
            self.ns_empty("request", "urn:xmpp:receipts");
        }
        if self.rng.chance(0.3) {
            self.ns_empty("markable", "urn:xmpp:chat-markers:0");
        }
        if self.rng.chance(0.03) {
            let rid = self.id();
            self.open("replace");
            self.attr("xmlns", "urn:xmpp:message-correct:0");
            self.attr("id", &rid);
            self.empty();
        }
        if self.rng.chance(0.02) {
            let url = format!(
                "https://upload.example.com/{}/{}.jpg",
                self.alnum(32),
                self.prose(Script::English, 8)
                    .replace(['&', '<', '>', '"', '\'', ' ', '\n'], "_")
            );
            self.ns_open("x", "jabber:x:oob");
            self.text_el("url", &url);
            self.end("x");
        }
        if self.rng.chance(0.4) {
            let oid = self.uuid();
            self.open("origin-id");
            self.attr("xmlns", "urn:xmpp:sid:0");
            self.attr("id", &oid);
            self.empty();
        }
    }

    fn stanza_id(&mut self, by: &str) {
        let sid = self.uuid();
        self.open("stanza-id");
        self.attr("xmlns", "urn:xmpp:sid:0");
        self.attr("by", by);
        self.attr("id", &sid);
        self.empty();
    }

    fn chat_message(&mut self) {
        let c = self.contact();
        let from = self.full_jid(c);
        let script = self.script_for(c);
        self.open("message");
        self.chat_inner(&from, ME_FULL, script, false);
        if self.rng.chance(0.5) {
            self.stanza_id(ME_BARE);
        }
        self.end("message");
    }

    fn chat_state(&mut self) {
        let c = self.contact();
        let from = self.full_jid(c);
        let id = self.id();
        self.open("message");
        self.attr("from", &from);
        self.attr("to", ME_FULL);
        self.attr("type", "chat");
        if self.rng.chance(0.6) {
            self.attr("id", &id);
        }
        self.gt();
        match self.rng.below(10) {
            0..=5 => {
                let st = self.rng.choose(CHAT_STATES);
                self.ns_empty(st, "http://jabber.org/protocol/chatstates");
                if self.rng.chance(0.5) {
                    self.ns_empty("no-store", "urn:xmpp:hints");
                }
            }
            6..=7 => {
                let rid = self.id();
                self.open("received");
                self.attr("xmlns", "urn:xmpp:receipts");
                self.attr("id", &rid);
                self.empty();
            }
            _ => {
                let rid = self.id();
                let marker = self.rng.choose(&["displayed", "received", "acknowledged"]);
                self.open(marker);
                self.attr("xmlns", "urn:xmpp:chat-markers:0");
                self.attr("id", &rid);
                self.empty();
                self.ns_empty("store", "urn:xmpp:hints");
            }
        }
        self.end("message");
    }

    fn delay(&mut self, from: Option<&str>, max_ago: u64) {
        let stamp = self.past_stamp(max_ago);
        self.open("delay");
        self.attr("xmlns", "urn:xmpp:delay");
        if let Some(from) = from {
            self.attr("from", from);
        }
        self.attr("stamp", &stamp);
        if self.rng.chance(0.05) {
            self.gt();
            self.text("Offline Storage");
            self.end("delay");
        } else {
            self.empty();
        }
    }

    /// A groupchat message; `history` = Some(max_age) adds a delay.
    fn groupchat(&mut self, history: Option<u64>) {
        let room = self.rng.below(self.rooms.len());
        let n = self.rooms[room].occupants.len();
        // Some occupants talk a lot more.
        let occ = self.rng.below(n).min(self.rng.below(n));
        let rjid = self.rooms[room].jid;
        let from = format!("{rjid}/{}", self.rooms[room].occupants[occ].nick);
        let oid = self.rooms[room].occupants[occ].occupant_id.clone();
        let script = if room == 5 {
            Script::Latin1
        } else if room == 9 {
            Script::Cyrillic
        } else if self.rng.chance(0.8) {
            Script::English
        } else {
            Script::random(&mut self.rng)
        };
        let id = self.id();
        self.open("message");
        self.attr_text("from", &from);
        self.attr("to", ME_FULL);
        self.attr("type", "groupchat");
        self.attr("id", &id);
        if self.rng.chance(0.1) {
            let lang = script.lang(&mut self.rng);
            self.attr("xml:lang", lang);
        }
        self.gt();
        if self.rng.chance(0.005) {
            let subj = self.prose(script, 40);
            self.text_el("subject", &subj);
        } else {
            let len = self.body_len();
            let body = self.prose(script, len);
            self.text_el("body", &body);
        }
        if self.rng.chance(0.5) {
            self.ns_empty("active", "http://jabber.org/protocol/chatstates");
        }
        if self.rng.chance(0.03) {
            let rid = self.uuid();
            let to = format!(
                "{rjid}/{}",
                self.rooms[room].occupants[self.rng.below(n)].nick
            );
            self.open("reply");
            self.attr("xmlns", "urn:xmpp:reply:0");
            self.attr_text("to", &to);
            self.attr("id", &rid);
            self.empty();
            self.open("fallback");
            self.attr("xmlns", "urn:xmpp:fallback:0");
            self.attr("for", "urn:xmpp:reply:0");
            self.gt();
            self.open("body");
            self.attr("start", "0");
            let end = self.rng.range(10, 60).to_string();
            self.attr("end", &end);
            self.empty();
            self.end("fallback");
        }
        if self.rng.chance(0.6) {
            self.open("occupant-id");
            self.attr("xmlns", "urn:xmpp:occupant-id:0");
            self.attr("id", &oid);
            self.empty();
        }
        if self.rng.chance(0.85) {
            self.stanza_id(rjid);
        }
        if let Some(max_ago) = history {
            self.delay(Some(rjid), max_ago);
        } else if self.rng.chance(0.01) {
            self.delay(Some(rjid), 600);
        }
        self.end("message");
    }

    fn caps(&mut self, caps: &(&'static str, String)) {
        self.open("c");
        self.attr("xmlns", "http://jabber.org/protocol/caps");
        if self.rng.chance(0.5) {
            self.attr("hash", "sha-1");
            self.attr("node", caps.0);
            self.attr("ver", &caps.1);
        } else {
            self.attr("node", caps.0);
            self.attr("ver", &caps.1);
            self.attr("hash", "sha-1");
        }
        self.empty();
    }

    fn vcard_update(&mut self, photo: Option<&str>) {
        self.ns_open("x", "vcard-temp:x:update");
        match photo {
            Some(p) => self.text_el("photo", p),
            None => {
                self.open("photo");
                self.empty();
            }
        }
        self.end("x");
    }

    fn presence_of(&mut self, c: usize, unavailable: bool) {
        let from = self.full_jid(c);
        let script = self.script_for(c);
        let caps = self.contacts[c].caps.clone();
        let photo = self.contacts[c].photo.clone();
        self.open("presence");
        self.attr("from", &from);
        self.attr("to", ME_FULL);
        if self.rng.chance(0.3) {
            let id = self.id();
            self.attr("id", &id);
        }
        if unavailable {
            self.attr("type", "unavailable");
            if self.rng.chance(0.7) {
                self.empty();
                return;
            }
            self.gt();
            let len = self.rng.range(2, 40);
            let st = self.prose(script, len);
            self.text_el("status", &st);
            self.end("presence");
            return;
        }
        self.gt();
        if self.rng.chance(0.5) {
            let show = self.rng.choose(SHOWS);
            self.text_el("show", show);
        }
        if self.rng.chance(0.4) {
            let len = self.rng.range(2, 100);
            let st = self.prose(script, len);
            if self.rng.chance(0.1) {
                let lang = script.lang(&mut self.rng);
                self.open("status");
                self.attr("xml:lang", lang);
                self.gt();
                self.text(&st);
                self.end("status");
            } else {
                self.text_el("status", &st);
            }
        }
        if self.rng.chance(0.6) {
            let p = self.rng.range(0, 50) as i64 - if self.rng.chance(0.05) { 51 } else { 0 };
            self.text_el("priority", &p.to_string());
        }
        if self.rng.chance(0.85) {
            self.caps(&caps);
        }
        match self.rng.below(100) {
            0..=19 => self.vcard_update(Some(&photo)),
            20..=24 => self.vcard_update(None),
            _ => {}
        }
        if self.rng.chance(0.05) {
            let since = self.past_stamp(86_400);
            self.open("idle");
            self.attr("xmlns", "urn:xmpp:idle:1");
            self.attr("since", &since);
            self.empty();
        }
        if self.rng.chance(0.05) {
            self.delay(Some(ME_BARE), 3600);
        }
        self.end("presence");
    }

    fn muc_presence(&mut self, room: usize, occ: usize, unavailable: bool, self_presence: bool) {
        let rjid = self.rooms[room].jid;
        let o = &self.rooms[room].occupants[occ];
        let from = format!("{rjid}/{}", o.nick);
        let real = o.real.clone();
        let (aff, role) = (o.affiliation, o.role);
        let oid = o.occupant_id.clone();
        let caps = o.caps.clone();
        let photo = o.photo.clone();
        self.open("presence");
        self.attr_text("from", &from);
        self.attr("to", ME_FULL);
        if self.rng.chance(0.2) {
            let id = self.id();
            self.attr("id", &id);
        }
        if unavailable {
            self.attr("type", "unavailable");
        }
        self.gt();
        if !unavailable {
            if self.rng.chance(0.2) {
                let show = self.rng.choose(SHOWS);
                self.text_el("show", show);
            }
            if self.rng.chance(0.1) {
                let len = self.rng.range(3, 60);
                let st = self.prose(Script::English, len);
                self.text_el("status", &st);
            }
            if self.rng.chance(0.6) {
                self.caps(&caps);
            }
            if self.rng.chance(0.3) {
                self.vcard_update(photo.as_deref());
            }
        }
        if self.rng.chance(0.4) {
            self.open("occupant-id");
            self.attr("xmlns", "urn:xmpp:occupant-id:0");
            self.attr("id", &oid);
            self.empty();
        }
        self.ns_open("x", "http://jabber.org/protocol/muc#user");
        self.open("item");
        self.attr("affiliation", aff);
        self.attr("role", if unavailable { "none" } else { role });
        if self.rng.chance(0.7) {
            self.attr("jid", &real);
        }
        self.empty();
        if self_presence {
            for code in ["100", "110", "170"] {
                self.open("status");
                self.attr("code", code);
                self.empty();
            }
        } else if unavailable && self.rng.chance(0.05) {
            self.open("status");
            self.attr("code", "307");
            self.empty();
        }
        self.end("x");
        if self.rng.chance(0.02) {
            self.delay(Some(rjid), 60);
        }
        self.end("presence");
    }

    /// A MUC join: presence of every occupant, self-presence, history, subject.
    fn muc_join(&mut self) {
        let room = self.rng.below(self.rooms.len());
        for occ in 0..self.rooms[room].occupants.len() {
            self.top(Kind::MucPresence, |g| {
                g.muc_presence(room, occ, false, false)
            });
        }
        self.top(Kind::MucPresence, |g| g.muc_presence(room, 0, false, true));
        for _ in 0..self.rng.range(10, 50) {
            self.top(Kind::Groupchat, |g| g.groupchat(Some(7 * 86_400)));
        }
    }

    fn carbon(&mut self) {
        let c = self.contact();
        let contact_full = self.full_jid(c);
        let script = self.script_for(c);
        let sent = self.rng.chance(0.3);
        let my_other = format!("{ME_BARE}/{}", self.rng.pick(RESOURCES));
        self.open("message");
        self.attr("from", ME_BARE);
        self.attr("to", ME_FULL);
        if self.rng.chance(0.5) {
            self.attr("type", "chat");
        }
        self.gt();
        let wrapper = if sent { "sent" } else { "received" };
        self.ns_open(wrapper, "urn:xmpp:carbons:2");
        self.ns_open("forwarded", "urn:xmpp:forward:0");
        self.open("message");
        let jc = self.rng.chance(0.8);
        if sent {
            let bare = self.contacts[c].bare.clone();
            self.chat_inner(&my_other, &bare, script, jc);
        } else {
            self.chat_inner(&contact_full, &my_other, script, jc);
        }
        self.end("message");
        self.end("forwarded");
        self.end(wrapper);
        self.end("message");
    }

    fn mam_burst(&mut self) {
        let queryid = self.alnum(10);
        let iq_id = self.id();
        let n = self.rng.range(5, 50);
        let c = self.contact();
        let contact_bare = self.contacts[c].bare.clone();
        let mut first = String::new();
        let mut last = String::new();
        for i in 0..n {
            let rid = self.uuid();
            if i == 0 {
                first = rid.clone();
            }
            last = rid.clone();
            let qid = queryid.clone();
            let cb = contact_bare.clone();
            self.top(Kind::Mam, |g| g.mam_result(&qid, &rid, c, &cb));
        }
        self.top(Kind::MamFin, |g| {
            g.open("iq");
            g.attr("type", "result");
            g.attr("id", &iq_id);
            g.attr("to", ME_FULL);
            g.gt();
            g.open("fin");
            g.attr("xmlns", "urn:xmpp:mam:2");
            if g.rng.chance(0.5) {
                g.attr("complete", "true");
            }
            g.gt();
            g.ns_open("set", "http://jabber.org/protocol/rsm");
            g.open("first");
            g.attr("index", "0");
            g.gt();
            g.text(&first);
            g.end("first");
            g.text_el("last", &last);
            let count = (n + g.rng.below(5000)).to_string();
            g.text_el("count", &count);
            g.end("set");
            g.end("fin");
            g.end("iq");
        });
    }

    fn mam_result(&mut self, queryid: &str, rid: &str, c: usize, contact_bare: &str) {
        let script = self.script_for(c);
        let outgoing = self.rng.chance(0.4);
        let contact_full = self.full_jid(c);
        let mine = format!("{ME_BARE}/{}", self.rng.pick(RESOURCES));
        self.open("message");
        self.attr("to", ME_FULL);
        self.attr("from", ME_BARE);
        let id = self.id();
        self.attr("id", &id);
        self.gt();
        self.open("result");
        self.attr("xmlns", "urn:xmpp:mam:2");
        self.attr("queryid", queryid);
        self.attr("id", rid);
        self.gt();
        self.ns_open("forwarded", "urn:xmpp:forward:0");
        self.delay(None, 30 * 86_400);
        self.open("message");
        if outgoing {
            self.chat_inner(&mine, contact_bare, script, true);
        } else {
            self.chat_inner(&contact_full, &mine, script, true);
        }
        self.end("message");
        self.end("forwarded");
        self.end("result");
        self.end("message");
    }

    fn omemo(&mut self) {
        let c = self.contact();
        let from = self.full_jid(c);
        let id = self.id();
        self.open("message");
        self.attr("from", &from);
        self.attr("to", ME_FULL);
        self.attr("type", "chat");
        self.attr("id", &id);
        self.gt();
        self.ns_open("encrypted", "eu.siacs.conversations.axolotl");
        self.open("header");
        let sid = (self.rng.below(2_147_483_647) + 1).to_string();
        self.attr("sid", &sid);
        self.gt();
        for _ in 0..self.rng.range(1, 6) {
            let prekey = self.rng.chance(0.1);
            let key = b64(&rand_bytes(&mut self.rng, if prekey { 180 } else { 90 }));
            self.open("key");
            if prekey {
                self.attr("prekey", "true");
            }
            let rid = (self.rng.below(2_147_483_647) + 1).to_string();
            self.attr("rid", &rid);
            self.gt();
            self.text(&key);
            self.end("key");
        }
        let iv = b64(&rand_bytes(&mut self.rng, 12));
        self.text_el("iv", &iv);
        self.end("header");
        let len = self.body_len() + 16;
        let payload = b64(&rand_bytes(&mut self.rng, len));
        self.text_el("payload", &payload);
        self.end("encrypted");
        self.open("encryption");
        self.attr("xmlns", "urn:xmpp:eme:0");
        self.attr("namespace", "eu.siacs.conversations.axolotl");
        self.attr("name", "OMEMO");
        self.empty();
        self.text_el(
            "body",
            "I sent you an OMEMO encrypted message but your client doesn’t seem to support that. Find more information on https://conversations.im/omemo",
        );
        self.ns_empty("request", "urn:xmpp:receipts");
        self.ns_empty("markable", "urn:xmpp:chat-markers:0");
        self.ns_empty("store", "urn:xmpp:hints");
        self.stanza_id(ME_BARE);
        self.end("message");
    }

    fn pep(&mut self) {
        let c = self.contact();
        let from = self.contacts[c].bare.clone();
        let name = self.contacts[c].name;
        let photo = self.contacts[c].photo.clone();
        self.open("message");
        self.attr("from", &from);
        self.attr("to", ME_FULL);
        self.attr("type", "headline");
        if self.rng.chance(0.5) {
            let id = self.id();
            self.attr("id", &id);
        }
        self.gt();
        self.ns_open("event", "http://jabber.org/protocol/pubsub#event");
        let which = self.rng.below(5);
        let node = match which {
            0 => "urn:xmpp:avatar:metadata",
            1 => "eu.siacs.conversations.axolotl.devicelist",
            2 => "http://jabber.org/protocol/nick",
            3 => "urn:xmpp:bookmarks:1",
            _ => "http://jabber.org/protocol/tune",
        };
        self.open("items");
        self.attr("node", node);
        self.gt();
        self.open("item");
        let item_id = match which {
            0 => photo.clone(),
            3 => ROOMS[self.rng.below(ROOMS.len())].to_string(),
            _ => "current".to_string(),
        };
        self.attr_text("id", &item_id);
        if self.rng.chance(0.3) {
            self.attr("publisher", &from);
        }
        self.gt();
        match which {
            0 => {
                self.ns_open("metadata", "urn:xmpp:avatar:metadata");
                self.open("info");
                let size = self.rng.range(2_000, 60_000).to_string();
                self.attr("bytes", &size);
                self.attr("id", &photo);
                self.attr("height", "96");
                self.attr("width", "96");
                self.attr("type", "image/png");
                self.empty();
                self.end("metadata");
            }
            1 => {
                self.ns_open("list", "eu.siacs.conversations.axolotl");
                for _ in 0..self.rng.range(1, 6) {
                    self.open("device");
                    let did = (self.rng.below(2_147_483_647) + 1).to_string();
                    self.attr("id", &did);
                    if self.rng.chance(0.2) {
                        let label = self.rng.choose(RESOURCES);
                        self.attr_text("label", label);
                    }
                    self.empty();
                }
                self.end("list");
            }
            2 => {
                self.open("nick");
                self.attr("xmlns", "http://jabber.org/protocol/nick");
                self.gt();
                self.text(name);
                self.end("nick");
            }
            3 => {
                let bname = self.rng.choose(DISPLAY_NAMES);
                let nick = self.rng.choose(NICKS);
                self.open("conference");
                self.attr("xmlns", "urn:xmpp:bookmarks:1");
                self.attr_text("name", bname);
                let autojoin = if self.rng.chance(0.5) {
                    "true"
                } else {
                    "false"
                };
                self.attr("autojoin", autojoin);
                self.gt();
                self.text_el("nick", nick);
                self.end("conference");
            }
            _ => {
                self.ns_open("tune", "http://jabber.org/protocol/tune");
                let artist = self.rng.choose(DISPLAY_NAMES);
                let ts = Script::random(&mut self.rng);
                let title = self.prose(ts, 24);
                self.text_el("artist", artist);
                self.text_el("title", &title);
                let length = self.rng.range(90, 600).to_string();
                self.text_el("length", &length);
                self.end("tune");
            }
        }
        self.end("item");
        self.end("items");
        self.end("event");
        if self.rng.chance(0.2) {
            self.ns_open("addresses", "http://jabber.org/protocol/address");
            self.open("address");
            self.attr("type", "replyto");
            self.attr("jid", &from);
            self.empty();
            self.end("addresses");
        }
        self.end("message");
    }

    fn ping(&mut self) {
        let id = self.id();
        let from = if self.rng.chance(0.7) {
            SERVER.to_string()
        } else {
            let c = self.contact();
            self.full_jid(c)
        };
        self.open("iq");
        if self.rng.chance(0.5) {
            self.attr("type", "get");
            self.attr("id", &id);
            self.attr("from", &from);
            self.attr("to", ME_FULL);
        } else {
            self.attr("from", &from);
            self.attr("to", ME_FULL);
            self.attr("id", &id);
            self.attr("type", "get");
        }
        self.gt();
        self.ns_empty("ping", "urn:xmpp:ping");
        self.end("iq");
    }

    fn iq_result_empty(&mut self) {
        let id = self.id();
        self.open("iq");
        self.attr("type", "result");
        self.attr("id", &id);
        if self.rng.chance(0.7) {
            let from = if self.rng.chance(0.5) {
                SERVER
            } else {
                ME_BARE
            };
            self.attr("from", from);
        }
        self.attr("to", ME_FULL);
        self.empty();
    }

    fn iq_get(&mut self) {
        let c = self.contact();
        let from = self.full_jid(c);
        let caps = self.contacts[c].caps.clone();
        let id = self.id();
        self.open("iq");
        self.attr("type", "get");
        self.attr("from", &from);
        self.attr("to", ME_FULL);
        self.attr("id", &id);
        self.gt();
        match self.rng.below(4) {
            0 | 1 => {
                self.open("query");
                self.attr("xmlns", "http://jabber.org/protocol/disco#info");
                if self.rng.chance(0.7) {
                    self.attr("node", &format!("{}#{}", caps.0, caps.1));
                }
                self.empty();
            }
            2 => self.ns_empty("query", "jabber:iq:version"),
            _ => self.ns_empty("time", "urn:xmpp:time"),
        }
        self.end("iq");
    }

    fn form_field(&mut self, var: &str, ty: Option<&str>, values: &[&str]) {
        self.open("field");
        self.attr("var", var);
        if let Some(ty) = ty {
            self.attr("type", ty);
        }
        self.gt();
        for v in values {
            self.text_el("value", v);
        }
        self.end("field");
    }

    fn disco_result(&mut self, server: bool) {
        let id = self.id();
        let (from, node) = if server {
            (SERVER.to_string(), None)
        } else {
            let c = self.contact();
            let caps = self.contacts[c].caps.clone();
            (self.full_jid(c), Some(format!("{}#{}", caps.0, caps.1)))
        };
        self.open("iq");
        self.attr("type", "result");
        self.attr("id", &id);
        self.attr("from", &from);
        self.attr("to", ME_FULL);
        self.gt();
        self.open("query");
        self.attr("xmlns", "http://jabber.org/protocol/disco#info");
        if let Some(node) = &node {
            self.attr("node", node);
        }
        self.gt();
        if server {
            self.open("identity");
            self.attr("category", "server");
            self.attr("type", "im");
            self.attr("name", "Prosody");
            self.empty();
            self.open("identity");
            self.attr("category", "pubsub");
            self.attr("type", "pep");
            self.attr("name", "Prosody");
            self.empty();
        } else {
            let client =
                *self
                    .rng
                    .pick(&["Conversations", "Gajim", "Dino", "Monal", "Psi+", "poezio"]);
            let ty = self.rng.choose(&["phone", "pc", "pc", "handheld", "web"]);
            self.open("identity");
            self.attr("category", "client");
            self.attr("type", ty);
            self.attr("name", client);
            self.empty();
            if self.rng.chance(0.3) {
                self.open("identity");
                self.attr("category", "client");
                self.attr("type", ty);
                self.attr("xml:lang", "de");
                self.attr_text("name", &format!("{client} – Jabber-Client für Geräte"));
                self.empty();
            }
        }
        let features = if server {
            SERVER_FEATURES
        } else {
            CLIENT_FEATURES
        };
        let n = if server {
            features.len()
        } else {
            self.rng.range(10, features.len())
        };
        for f in &features[..n] {
            self.open("feature");
            self.attr("var", f);
            self.empty();
        }
        if server || self.rng.chance(0.6) {
            self.open("x");
            self.attr("xmlns", "jabber:x:data");
            self.attr("type", "result");
            self.gt();
            if server {
                self.form_field(
                    "FORM_TYPE",
                    Some("hidden"),
                    &["http://jabber.org/network/serverinfo"],
                );
                self.form_field(
                    "abuse-addresses",
                    Some("list-multi"),
                    &["mailto:abuse@example.com", "xmpp:abuse@example.com"],
                );
                self.form_field(
                    "admin-addresses",
                    Some("list-multi"),
                    &["xmpp:admin@example.com"],
                );
                self.form_field(
                    "support-addresses",
                    Some("list-multi"),
                    &["https://example.com/support?lang=en&amp=1"],
                );
            } else {
                self.form_field(
                    "FORM_TYPE",
                    Some("hidden"),
                    &["urn:xmpp:dataforms:softwareinfo"],
                );
                let os = *self
                    .rng
                    .pick(&["Linux", "Android", "iOS", "Windows", "macOS", "FreeBSD"]);
                self.form_field("os", None, &[os]);
                self.form_field("os_version", None, &["14 (Build UP1A.231005.007)"]);
                self.form_field("software", None, &["Conversations"]);
                self.form_field("software_version", None, &["2.16.3+pcr \"Café\" <stable>"]);
            }
            self.end("x");
        }
        self.end("query");
        self.end("iq");
    }

    /// A message with a prefixed-namespace extension (`xmlns:foo` + `<foo:bar/>`).
    fn prefixed(&mut self) {
        let c = self.contact();
        let from = self.full_jid(c);
        let id = self.id();
        self.open("message");
        self.attr("from", &from);
        self.attr("to", ME_FULL);
        self.attr("type", "chat");
        self.attr("id", &id);
        self.gt();
        if self.rng.chance(0.5) {
            let len = self.rng.range(5, 80);
            let body = self.prose(Script::English, len);
            self.text_el("body", &body);
        }
        let prefix = self.rng.choose(&["foo", "ext", "x", "app", "ns1"]);
        let el = format!("{prefix}:data");
        self.open(&el);
        self.attr(&format!("xmlns:{prefix}"), "urn:x");
        if self.rng.chance(0.3) {
            // Also rebinds the default namespace for the subtree.
            self.attr("xmlns", "urn:x:default");
        }
        self.attr(&format!("{prefix}:version"), "2");
        self.gt();
        let bar = format!("{prefix}:bar");
        for i in 0..self.rng.range(1, 8) {
            self.open(&bar);
            self.attr("n", &i.to_string());
            if self.rng.chance(0.3) {
                self.gt();
                let ts = Script::random(&mut self.rng);
                let len = self.rng.range(1, 30);
                let t = self.prose(ts, len);
                self.text(&t);
                self.end(&bar);
            } else {
                self.empty();
            }
        }
        if self.rng.chance(0.5) {
            let json = "{\"k\":\"v & w\",\"lt\":\"<\",\"n\":[1,2,3]}";
            let inner = format!("{prefix}:json");
            self.text_el(&inner, json);
        }
        self.end(&el);
        self.end("message");
    }

    fn sm_nonza(&mut self) {
        if self.rng.chance(0.5) {
            self.ns_empty("r", "urn:xmpp:sm:3");
        } else {
            let h = self.sm_h.to_string();
            self.open("a");
            self.attr("xmlns", "urn:xmpp:sm:3");
            self.attr("h", &h);
            self.empty();
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn rand_bytes(rng: &mut SplitMix64, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(n);
    v
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for ch in bytes.chunks(3) {
        let b = [ch[0], *ch.get(1).unwrap_or(&0), *ch.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if ch.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if ch.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// What [`validate`] found.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    /// Children of `<stream:stream>`.
    pub top_level: usize,
    /// All elements, including `<stream:stream>`.
    pub elements: usize,
    /// Deepest nesting (the stream element is depth 1).
    pub max_depth: usize,
    /// Character references seen.
    pub char_refs: usize,
    /// Predefined entity references seen.
    pub entity_refs: usize,
    /// Whether `</stream:stream>` was present.
    pub closed: bool,
    /// Per top-level element, in order: elements + attributes (namespace
    /// declarations included) + runs of character data (text split by
    /// references counts once) in its subtree, itself included.
    pub nodes_per_top_level: Vec<u32>,
}

fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// quick-xml's raw event loop over `bytes`, the baseline the benches measure against (no
/// validation beyond matching end names, no namespaces); returns the Start + Empty events.
pub fn quick_xml_pass(bytes: &[u8]) -> usize {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_reader(bytes);
    r.config_mut().check_end_names = true;
    let mut n = 0;
    loop {
        match r.read_event() {
            Ok(Event::Eof) => break,
            Ok(ev) => {
                if matches!(ev, Event::Start(_) | Event::Empty(_)) {
                    n += 1;
                }
                std::hint::black_box(ev);
            }
            Err(e) => panic!("quick-xml error at {}: {e}", r.error_position()),
        }
    }
    n
}

/// Checks that `bytes` is a well-formed RFC 6120 stream prefix (or a closed
/// stream): strict lexical checks (UTF-8, characters, references, no
/// comments/PIs/DOCTYPE/CDATA) plus a quick-xml namespace-aware pass for
/// structure, end-tag names, attribute syntax/uniqueness and prefixes.
pub fn validate(bytes: &[u8]) -> Result<Validation, String> {
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;

    let mut v = Validation::default();
    let text = std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8: {e}"))?;
    for (i, c) in text.char_indices() {
        let u = c as u32;
        if !is_xml_char(u) || (0x7F..=0x9F).contains(&u) || u == 0xD {
            return Err(format!("forbidden character U+{u:04X} at {i}"));
        }
    }
    // References.
    let mut pos = 0;
    while let Some(off) = memchr::memchr(b'&', &bytes[pos..]) {
        let at = pos + off;
        let semi = memchr::memchr(b';', &bytes[at..])
            .ok_or_else(|| format!("unterminated reference at {at}"))?;
        let name = &text[at + 1..at + semi];
        match name {
            "amp" | "lt" | "gt" | "quot" | "apos" => v.entity_refs += 1,
            _ => {
                let num = if let Some(h) = name.strip_prefix("#x") {
                    if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(format!("bad hex char ref &{name}; at {at}"));
                    }
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = name.strip_prefix('#') {
                    if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(format!("bad char ref &{name}; at {at}"));
                    }
                    d.parse().ok()
                } else {
                    return Err(format!("undefined entity &{name}; at {at}"));
                };
                match num {
                    Some(n) if is_xml_char(n) => v.char_refs += 1,
                    _ => return Err(format!("char ref to non-Char &{name}; at {at}")),
                }
            }
        }
        pos = at + semi + 1;
    }
    if memchr::memmem::find(bytes, b"]]>").is_some() {
        return Err("']]>' in content".into());
    }
    if let Some(i) = memchr::memmem::find(bytes, b"<!") {
        return Err(format!("'<!' (comment/CDATA/DOCTYPE) at {i}"));
    }
    if let Some(i) = memchr::memmem::find(&bytes[1..], b"<?") {
        return Err(format!("processing instruction at {}", i + 1));
    }

    // Structure.
    let mut r = quick_xml::NsReader::from_reader(bytes);
    r.config_mut().check_end_names = true;
    let mut depth = 0usize;
    let mut seen_root = false;
    // Index entries of the current top-level element: elements, attributes
    // (namespace declarations included) and runs of character data.
    let mut nodes = 0u32;
    let mut last_text = false;
    loop {
        let pos = r.buffer_position();
        let ev = r
            .read_event()
            .map_err(|e| format!("quick-xml at {pos}: {e}"))?;
        let start = match &ev {
            Event::Start(e) | Event::Empty(e) => Some(e.clone()),
            _ => None,
        };
        if let Some(e) = start {
            if depth == 0 {
                if seen_root {
                    return Err(format!("second root element at {pos}"));
                }
                seen_root = true;
                let (ns, local) = r.resolver().resolve_element(e.name());
                let ok = matches!(ns, ResolveResult::Bound(n) if n.0 == "http://etherx.jabber.org/streams")
                    && AsRef::<str>::as_ref(&local) == "stream";
                if !ok {
                    return Err("root is not stream:stream".into());
                }
            }
            let (ns, _) = r.resolver().resolve_element(e.name());
            if let ResolveResult::Unknown(p) = ns {
                return Err(format!("unbound element prefix {p} at {pos}"));
            }
            let mut attrs = 0;
            for a in e.attributes() {
                attrs += 1;
                let a = a.map_err(|e| format!("attribute at {pos}: {e}"))?;
                let (ns, _) = r.resolver().resolve_attribute(a.key);
                if let ResolveResult::Unknown(p) = ns {
                    if p != "xmlns" {
                        return Err(format!("unbound attribute prefix {p} at {pos}"));
                    }
                }
                a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                    .map_err(|e| format!("attribute value at {pos}: {e}"))?;
            }
            v.elements += 1;
            if depth >= 1 {
                nodes += 1 + attrs;
            }
            last_text = false;
            if depth == 1 {
                v.top_level += 1;
            }
            if matches!(ev, Event::Start(_)) {
                depth += 1;
                v.max_depth = v.max_depth.max(depth);
            } else if depth == 1 {
                v.nodes_per_top_level.push(std::mem::take(&mut nodes));
            }
            continue;
        }
        match ev {
            Event::End(_) => {
                depth -= 1;
                if depth == 0 {
                    v.closed = true;
                } else if depth == 1 {
                    v.nodes_per_top_level.push(std::mem::take(&mut nodes));
                }
                last_text = false;
            }
            Event::Text(t) => {
                if depth == 0 && !t.bytes().all(|b| b" \t\r\n".contains(&b)) {
                    return Err(format!("text outside the root at {pos}"));
                }
                if depth == 1 && !t.bytes().all(|b| b" \t\r\n".contains(&b)) {
                    return Err(format!("non-whitespace text between stanzas at {pos}"));
                }
                if depth >= 2 && !last_text {
                    nodes += 1;
                }
                last_text = true;
            }
            Event::GeneralRef(_) => {
                if depth <= 1 {
                    return Err(format!("reference between stanzas at {pos}"));
                }
                if !last_text {
                    nodes += 1;
                }
                last_text = true;
            }
            Event::Decl(_) => {
                if pos != 0 {
                    return Err(format!("XML declaration not at start ({pos})"));
                }
            }
            Event::Eof => break,
            other => return Err(format!("forbidden event {other:?} at {pos}")),
        }
    }
    if !seen_root {
        return Err("no stream header".into());
    }
    if !(depth == 1 || (depth == 0 && v.closed)) {
        return Err(format!("ended inside a stanza (depth {depth})"));
    }
    Ok(v)
}
