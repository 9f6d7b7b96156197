//! The languages licd's pages and messages are read in: English and 简体中文.
//!
//! - **One catalog per language.** Every string a person reads on a page (the customer portal,
//!   `/activate`) and the Chinese sentence of every `/v1` error is a message in
//!   `locales/en.ftl` or `locales/zh-CN.ftl` (Project Fluent syntax), compiled into the binary.
//!   Tests fail when a message exists in one catalog and not the other, when code or a template
//!   asks for a message neither has, and when a page template holds text outside the catalog.
//! - **Which language.** The `licd_lang` cookie the pages' switch sets, else the reader's
//!   `Accept-Language` ([`Lang::negotiate`]), else English.
//! - **Times.** Pages run no script, so they cannot learn the reader's zone: English pages show
//!   UTC, Chinese pages China Standard Time (UTC+8, no daylight saving, 北京时间), each labelled.
//!
//! Why Fluent: plural rules (1 seat, 2 seats) and named arguments per language, checked at
//! start, without a lookup table written by hand.

use std::sync::LazyLock;

use client_verifier::Timestamp;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// The cookie that remembers the reader's choice of language.
pub const LANG_COOKIE: &str = "licd_lang";

/// A language licd speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English, with times in UTC.
    #[default]
    En,
    /// Simplified Chinese, with times in China Standard Time.
    Zh,
}

/// The catalogs' sources, as compiled in.
pub const SOURCES: [(Lang, &str); 2] = [
    (Lang::En, include_str!("../locales/en.ftl")),
    (Lang::Zh, include_str!("../locales/zh-CN.ftl")),
];

/// China Standard Time's offset from UTC.
const CST_OFFSET_SECS: i64 = 8 * 3600;

static BUNDLES: LazyLock<[FluentBundle<FluentResource>; 2]> =
    LazyLock::new(|| [bundle(Lang::En), bundle(Lang::Zh)]);

fn bundle(lang: Lang) -> FluentBundle<FluentResource> {
    let source = SOURCES[lang.index()].1;
    let resource = FluentResource::try_new(source.to_string()).unwrap_or_else(|(r, errors)| {
        // The tests parse both catalogs without errors; a release never gets here.
        tracing::error!(
            lang = lang.tag(),
            ?errors,
            "message catalog has syntax errors"
        );
        r
    });
    let id = lang
        .tag()
        .parse()
        .unwrap_or_else(|_| unic_langid::LanguageIdentifier::default());
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // Pages are HTML, escaped by the templates: Unicode isolation marks around arguments would
    // show up in copied ids and codes.
    b.set_use_isolating(false);
    if let Err(errors) = b.add_resource(resource) {
        tracing::error!(
            lang = lang.tag(),
            ?errors,
            "message catalog has duplicate messages"
        );
    }
    b
}

/// An argument of a message: text, or a number (which picks a plural form).
#[derive(Clone, Debug, PartialEq)]
pub enum Arg<'a> {
    /// Text, shown as given.
    Text(std::borrow::Cow<'a, str>),
    /// A count.
    Number(i64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(s.into())
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(s.as_str().into())
    }
}
impl From<String> for Arg<'_> {
    fn from(s: String) -> Self {
        Arg::Text(s.into())
    }
}
macro_rules! number_args {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg<'_> {
            fn from(n: $t) -> Self {
                Arg::Number(i64::try_from(n).unwrap_or(i64::MAX))
            }
        }
        impl From<&$t> for Arg<'_> {
            fn from(n: &$t) -> Self {
                Arg::Number(i64::try_from(*n).unwrap_or(i64::MAX))
            }
        }
    )*};
}
number_args!(u32, u64, usize, i64);

impl Lang {
    /// Both languages, English first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];

    fn index(self) -> usize {
        match self {
            Lang::En => 0,
            Lang::Zh => 1,
        }
    }

    /// The BCP 47 tag (`en`, `zh-CN`): the cookie's value and the page's `lang`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// The other language: what the switch offers.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Zh,
            Lang::Zh => Lang::En,
        }
    }

    /// The language a tag names (`zh`, `zh-CN`, `zh-Hans-CN`, `en-GB`, any case), if licd
    /// speaks it.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language of a page: the cookie's choice when it names one, else the language of
    /// `Accept-Language` the reader ranks highest among the two licd speaks (so
    /// `fr, zh;q=0.5` is Chinese and `en-US, zh-CN;q=0.8` English), else English.
    pub fn negotiate(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(l) = cookie.and_then(Lang::parse) {
            return l;
        }
        let Some(header) = accept_language else {
            return Lang::En;
        };
        let mut best: Option<(u16, Lang)> = None;
        // A header is short; bound the work on a long one all the same.
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else {
                continue;
            };
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .next()
                .map_or(1000, quality);
            // The first of equal weight wins, as the reader listed it.
            if q > 0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// Message `id`; its id itself (and an error in the log) when the catalog lacks it, which
    /// the tests rule out.
    pub fn t(self, id: &str) -> String {
        self.format(id, None)
    }

    /// Message `id` with one argument.
    pub fn t1<'a>(self, id: &str, k: &str, v: impl Into<Arg<'a>>) -> String {
        self.tr(id, &[(k, v.into())])
    }

    /// Message `id` with two arguments.
    pub fn t2<'a, 'b>(
        self,
        id: &str,
        k1: &str,
        v1: impl Into<Arg<'a>>,
        k2: &str,
        v2: impl Into<Arg<'b>>,
    ) -> String {
        self.tr(id, &[(k1, v1.into()), (k2, v2.into())])
    }

    /// Message `id` with three arguments.
    #[allow(clippy::too_many_arguments)]
    pub fn t3<'a, 'b, 'c>(
        self,
        id: &str,
        k1: &str,
        v1: impl Into<Arg<'a>>,
        k2: &str,
        v2: impl Into<Arg<'b>>,
        k3: &str,
        v3: impl Into<Arg<'c>>,
    ) -> String {
        self.tr(id, &[(k1, v1.into()), (k2, v2.into()), (k3, v3.into())])
    }

    /// Message `id` with named arguments.
    pub fn tr(self, id: &str, args: &[(&str, Arg<'_>)]) -> String {
        let mut a = FluentArgs::new();
        for (k, v) in args {
            set(&mut a, k, v.clone());
        }
        self.format(id, Some(&a))
    }

    /// Whether the catalog has message `id`.
    pub fn has(self, id: &str) -> bool {
        BUNDLES[self.index()].has_message(id)
    }

    fn format(self, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        let bundle = &BUNDLES[self.index()];
        let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
            tracing::error!(lang = self.tag(), id, "message missing from the catalog");
            return id.to_string();
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::error!(
                lang = self.tag(),
                id,
                ?errors,
                "message formatted with errors"
            );
        }
        text.into_owned()
    }

    /// A day as this language writes it: `5 Dec 2026`, `2026年12月6日` (in the language's zone).
    pub fn date(self, t: impl std::borrow::Borrow<Timestamp>) -> String {
        let (y, m, d, _, _) = self.local(*t.borrow());
        match self {
            Lang::En => format!("{d} {} {y}", MONTHS[usize::from(m - 1)]),
            Lang::Zh => format!("{y}年{m}月{d}日"),
        }
    }

    /// A moment, labelled with its zone: `5 Dec 2026, 20:30 UTC`,
    /// `2026年12月6日 04:30（北京时间）`.
    pub fn time(self, t: impl std::borrow::Borrow<Timestamp>) -> String {
        let t = *t.borrow();
        let (_, _, _, h, min) = self.local(t);
        match self {
            Lang::En => format!("{}, {h:02}:{min:02} UTC", self.date(t)),
            Lang::Zh => format!("{} {h:02}:{min:02}（北京时间）", self.date(t)),
        }
    }

    /// Year, month, day, hour and minute of `t` in this language's zone.
    fn local(self, t: Timestamp) -> (i64, u8, u8, u8, u8) {
        let shifted = match self {
            Lang::En => t,
            Lang::Zh => t.add_secs(CST_OFFSET_SECS),
        };
        let s = shifted.to_rfc3339();
        let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
        let y = num(0..4).unwrap_or(1970);
        let part = |r| num(r).and_then(|v| u8::try_from(v).ok()).unwrap_or(0);
        (
            y,
            part(5..7).max(1),
            part(8..10),
            part(11..13),
            part(14..16),
        )
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `q=0.8` as thousandths; 0 for anything unreadable (so it is ignored).
fn quality(q: &str) -> u16 {
    let q = q.trim();
    match q.split_once('.') {
        None => match q {
            "1" => 1000,
            _ => 0,
        },
        Some((whole, frac)) => {
            if whole == "1" {
                return 1000;
            }
            if whole != "0" || frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return 0;
            }
            let padded = format!("{frac:0<3}");
            padded.parse().unwrap_or(0)
        }
    }
}

fn set(args: &mut FluentArgs<'_>, k: &str, v: Arg<'_>) {
    let value = match v {
        Arg::Text(s) => FluentValue::from(s.into_owned()),
        Arg::Number(n) => FluentValue::from(n),
    };
    args.set(k.to_string(), value);
}

/// The error kinds of the client and admin APIs (`"error"` in an error body): each has a
/// sentence in both catalogs (`error-<kind>`), which `/v1` error bodies carry as `message_zh`.
pub const API_ERROR_KINDS: &[&str] = &[
    "already_deactivated",
    "code_incomplete",
    "expired",
    "forbidden",
    "frozen",
    "internal",
    "invalid",
    "invalid_code",
    "marketplace_license",
    "not_activated",
    "not_delivered",
    "not_found",
    "refused",
    "released",
    "revoked",
    "seats_taken",
    "superseded",
    "too_large",
    "too_many_requests",
    "transfers_exhausted",
    "unauthorized",
    "unavailable",
    "unknown_code",
];

/// The sentence for API error kind `kind` in `lang` (a general one for a kind the catalog does
/// not know).
pub fn error_text(lang: Lang, kind: &str) -> String {
    let id = format!("error-{kind}");
    if lang.has(&id) {
        lang.t(&id)
    } else {
        lang.t("error-other")
    }
}

/// The ids of the messages of a catalog source, in order.
pub fn message_ids(source: &str) -> Result<Vec<String>, String> {
    let resource =
        FluentResource::try_new(source.to_string()).map_err(|(_, errors)| format!("{errors:?}"))?;
    Ok(resource
        .entries()
        .filter_map(|e| match e {
            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn both_catalogs_parse_and_have_the_same_messages() {
        let en = message_ids(SOURCES[0].1).unwrap();
        let zh = message_ids(SOURCES[1].1).unwrap();
        let only = |a: &[String], b: &[String]| {
            a.iter()
                .filter(|x| !b.contains(x))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert!(
            only(&en, &zh).is_empty(),
            "in en.ftl, not in zh-CN.ftl: {:?}",
            only(&en, &zh)
        );
        assert!(
            only(&zh, &en).is_empty(),
            "in zh-CN.ftl, not in en.ftl: {:?}",
            only(&zh, &en)
        );
        let mut sorted = en.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), en.len(), "a message is defined twice");
        for id in &en {
            for l in Lang::ALL {
                let text = l.t(id);
                assert!(!text.trim().is_empty(), "{id} is empty in {}", l.tag());
            }
        }
    }

    #[test]
    fn every_api_error_kind_has_a_sentence_in_both_languages() {
        for kind in API_ERROR_KINDS {
            for l in Lang::ALL {
                assert!(
                    l.has(&format!("error-{kind}")),
                    "error-{kind} in {}",
                    l.tag()
                );
            }
        }
        assert_eq!(
            error_text(Lang::Zh, "no_such_kind"),
            Lang::Zh.t("error-other")
        );
    }

    /// The directories whose templates are translated: every word they show comes from the
    /// catalogs. (The console and `/activate` join when they are translated.)
    const TRANSLATED: &[&str] = &[
        "templates/portal",
        "templates/activate",
        "templates/console",
    ];

    fn files(dir: &str, ext: &str) -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == ext) {
                    out.push((
                        p.display().to_string(),
                        std::fs::read_to_string(&p).unwrap(),
                    ));
                }
            }
        }
        out
    }

    /// `text` without what lies between `open` and `close` (inclusive).
    fn strip(text: &str, open: &str, close: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(open) {
            out.push_str(&rest[..i]);
            match rest[i..].find(close) {
                Some(j) => rest = &rest[i + j + close.len()..],
                None => return out,
            }
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn translated_templates_hold_no_text_outside_the_catalog() {
        for (path, html) in TRANSLATED.iter().flat_map(|d| files(d, "html")) {
            let mut t = strip(&html, "<style>", "</style>");
            for (open, close) in [("{#", "#}"), ("{%", "%}"), ("{{", "}}")] {
                t = strip(&t, open, close);
            }
            // Attributes a reader sees hold catalog text only (an expression, stripped above).
            for attr in ["placeholder=\"", "title=\"", "alt=\"", "aria-label=\""] {
                for (i, _) in t.match_indices(attr) {
                    let value = &t[i + attr.len()..];
                    let value = &value[..value.find('"').unwrap_or(0)];
                    assert!(
                        !value.chars().any(char::is_alphabetic),
                        "{path}: {attr}{value}\" is text outside the catalog"
                    );
                }
            }
            let text = strip(&t, "<", ">");
            let text = strip(&text, "&", ";");
            let words: String = text.chars().filter(|c| c.is_alphabetic()).collect();
            assert!(
                words.is_empty(),
                "{path} shows text outside the catalog: {:?}",
                text.split_whitespace()
                    .filter(|w| w.chars().any(char::is_alphabetic))
                    .take(8)
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn every_message_asked_for_exists() {
        let mut sources = files("templates", "html");
        sources.extend(files("src", "rs"));
        let mut asked = 0;
        for (path, text) in sources {
            for call in [".t(\"", ".t1(\"", ".t2(\"", ".t3(\"", ".tr(\""] {
                for (i, _) in text.match_indices(call) {
                    let id = &text[i + call.len()..];
                    let id = &id[..id.find('"').unwrap()];
                    if id == "no-such-message" {
                        continue;
                    }
                    asked += 1;
                    for l in Lang::ALL {
                        assert!(l.has(id), "{path} asks for {id}, missing in {}", l.tag());
                    }
                }
            }
        }
        assert!(asked > 50, "found only {asked} messages asked for");
    }

    #[test]
    fn a_missing_message_shows_its_id() {
        assert_eq!(Lang::Zh.t("no-such-message"), "no-such-message");
        assert!(!Lang::En.has("no-such-message"));
    }

    #[test]
    fn accept_language_and_the_cookie_pick_the_language() {
        let n = Lang::negotiate;
        assert_eq!(n(None, None), Lang::En);
        assert_eq!(n(None, Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(n(None, Some("zh-TW")), Lang::Zh);
        assert_eq!(n(None, Some("ZH-hans-cn")), Lang::Zh);
        assert_eq!(n(None, Some("fr-FR, zh;q=0.5")), Lang::Zh);
        assert_eq!(n(None, Some("en-US,zh-CN;q=0.8")), Lang::En);
        assert_eq!(n(None, Some("en;q=0.4, zh;q=0.6")), Lang::Zh);
        assert_eq!(n(None, Some("zh;q=0, en;q=0.1")), Lang::En);
        assert_eq!(n(None, Some("de, fr")), Lang::En);
        assert_eq!(n(None, Some("zh;q=abc")), Lang::En);
        assert_eq!(n(None, Some(";;,,q=1")), Lang::En);
        // The switch wins over the browser, both ways; a cookie naming nothing licd speaks does not.
        assert_eq!(n(Some("en"), Some("zh-CN")), Lang::En);
        assert_eq!(n(Some("zh-CN"), Some("en-US")), Lang::Zh);
        assert_eq!(n(Some("xx"), Some("zh")), Lang::Zh);
        assert_eq!(quality("0.123"), 123);
        assert_eq!(quality("0.5"), 500);
        assert_eq!(quality("1.0"), 1000);
        assert_eq!(quality("0.1234"), 0);
    }

    #[test]
    fn times_are_in_the_readers_zone_and_labelled() {
        let at = t("2026-12-05T20:30:00Z");
        assert_eq!(Lang::En.time(at), "5 Dec 2026, 20:30 UTC");
        // 04:30 the next day in Beijing.
        assert_eq!(Lang::Zh.time(at), "2026年12月6日 04:30（北京时间）");
        assert_eq!(Lang::En.date(at), "5 Dec 2026");
        assert_eq!(Lang::Zh.date(at), "2026年12月6日");
        assert_eq!(Lang::Zh.date(t("2027-01-01T00:00:00Z")), "2027年1月1日");
    }

    #[test]
    fn arguments_and_plurals() {
        assert_eq!(Lang::En.t1("portal-seats-count", "count", 1u32), "1 seat");
        assert_eq!(Lang::En.t1("portal-seats-count", "count", 3u32), "3 seats");
        assert_eq!(Lang::Zh.t1("portal-seats-count", "count", 3u32), "3 个席位");
        // Text arguments are inserted as they are: the templates escape the whole message.
        assert!(
            Lang::En
                .t1("portal-freed-notice", "seat", "<b>")
                .contains("<b>")
        );
    }
}
