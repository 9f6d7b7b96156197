//! The product catalog: what each marketplace product (and SKU) entitles its licenses to, as
//! the ISV writes it in a TOML file (`--products FILE`; every key is shown, commented, in
//! `packaging/products.toml`).
//!
//! ```toml
//! [default]                      # purchases of products the catalog does not list
//! name = "Standard"
//!
//! [[product]]
//! id = "OFFI454488918838374"     # the marketplace productId
//! sku = "sku-pro"                # optional: only this skuCode
//! name = "CAD Pro"               # the edition, shown in tools and tokens
//! seats = 5                      # quantity when the marketplace sends none
//! binding = "required"           # none | optional | required
//! check_in_days = 30             # 0: a bound machine never has to check in
//! freeze_days = 15               # overrides --freeze-days
//! transfers_per_year = 3         # seats a customer may give back and take again per 365 days
//! model = "floating"             # node-locked (default) | floating: seats shared by leases
//! lease_secs = 600               # floating: how long a lease lasts unless renewed
//! linger_secs = 0                # floating: how long a released seat stays taken
//! borrow_max_days = 7            # floating: the longest a lease may be borrowed offline
//! [product.entitlements]
//! export_dxf = true
//! max_layers = 200
//! ```
//!
//! The most specific entry wins: product and SKU, then product alone, then `[default]`. A
//! purchase is never refused for its product: the customer has paid. Without an entry it gets
//! the default, or nothing at all (empty entitlements), and the caller says so in the log and a
//! metric.
//!
//! A pure module: it reads text and answers lookups; the file is read by [`Catalog::load`] and
//! kept (and reloaded) by the service.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use client_verifier::Entitlements;
use serde::{Deserialize, Serialize};

/// Whether licenses of an entry are bound to a device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindingRule {
    /// Never bound: the license works on any machine (a site or floating license).
    None,
    /// Bound when the application activates it; unbound tokens also work.
    #[default]
    Optional,
    /// Must be bound: unbound tokens are refused (the application activates first).
    Required,
}

/// How a floating product's seats are shared ([`Entry::floating`]): by leases, each a short
/// token a running program renews.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Floating {
    /// How long a lease lasts unless renewed: how long a crashed program's seat stays taken.
    pub lease_secs: u32,
    /// How long a released seat stays taken (0: free at once).
    pub linger_secs: u32,
    /// The longest a lease may be borrowed for offline use, in days (0: no borrowing).
    pub borrow_max_days: u32,
}

/// Lease length when the catalog names none: ten minutes.
pub const DEFAULT_LEASE_SECS: u32 = 600;
/// The shortest lease: renewals every 15 s or so are as often as a program should call.
pub const MIN_LEASE_SECS: u32 = 30;
/// The longest lease (a day): longer, and a crashed program holds its seat for too long.
pub const MAX_LEASE_SECS: u32 = 86_400;
/// The longest linger: an hour.
pub const MAX_LINGER_SECS: u32 = 3_600;
/// The longest borrow: 90 days.
pub const MAX_BORROW_DAYS: u32 = 90;

/// What one product (or one SKU of it) entitles a license to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    /// The marketplace `productId`; empty for the default entry.
    pub product: String,
    /// The marketplace `skuCode`, when the entry is for one SKU only.
    pub sku: Option<String>,
    /// The edition's name.
    pub name: String,
    /// Feature flags and limits: booleans, integers, strings.
    pub entitlements: Entitlements,
    /// The quantity when the marketplace sends none.
    pub seats: Option<u32>,
    /// Device binding.
    pub binding: BindingRule,
    /// Days a bound machine may go without refreshing; 0 = never required.
    pub check_in_days: u32,
    /// Overrides `--freeze-days`.
    pub freeze_days: Option<u32>,
    /// Seats a customer may give back (a deactivation receipt) and take again within any 365
    /// days.
    pub transfers_per_year: u32,
    /// `model = "floating"`: the seats are shared by leases, on these terms. `None`: seats are
    /// machines (node-locked).
    pub floating: Option<Floating>,
}

/// Transfers allowed when the catalog says nothing: enough for a replaced machine or two a
/// year, too few to pass one seat around a site.
pub const DEFAULT_TRANSFERS_PER_YEAR: u32 = 3;

/// Which entry a lookup found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lookup<'a> {
    /// An entry for the product (and SKU).
    Listed(&'a Entry),
    /// The product is not listed: the `[default]` entry.
    Default(&'a Entry),
    /// The product is not listed and there is no `[default]`.
    Missing,
}

impl<'a> Lookup<'a> {
    /// The entry that applies, if any.
    pub fn entry(self) -> Option<&'a Entry> {
        match self {
            Lookup::Listed(e) | Lookup::Default(e) => Some(e),
            Lookup::Missing => None,
        }
    }
}

/// The catalog as licd understands it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// Where it was read from (`None`: no catalog configured).
    pub source: Option<PathBuf>,
    /// The listed entries, in file order.
    pub entries: Vec<Entry>,
    /// The entry for unlisted products.
    pub default: Option<Entry>,
    /// product → its entries' indexes in `entries`, looked up by `&str` (no allocation per
    /// lookup: this runs on every purchase and refresh).
    index: HashMap<String, ProductIndex>,
}

/// The entries of one product.
#[derive(Clone, Debug, Default, PartialEq)]
struct ProductIndex {
    /// The product-wide entry.
    any: Option<usize>,
    /// Entries for one SKU.
    skus: HashMap<String, usize>,
}

/// Why a catalog cannot be used: names the file, and the line and key where it can.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", .file.display())]
pub struct CatalogError {
    /// The file.
    pub file: PathBuf,
    /// What is wrong, with the line and key.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRepr {
    default: Option<EntryRepr>,
    #[serde(default)]
    product: Vec<EntryRepr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryRepr {
    id: Option<toml::Spanned<String>>,
    sku: Option<String>,
    name: Option<String>,
    #[serde(default)]
    entitlements: HashMap<String, toml::Spanned<toml::Value>>,
    seats: Option<u32>,
    #[serde(default)]
    binding: BindingRule,
    #[serde(default)]
    check_in_days: u32,
    freeze_days: Option<u32>,
    transfers_per_year: Option<u32>,
    #[serde(default)]
    model: ModelRepr,
    lease_secs: Option<u32>,
    linger_secs: Option<u32>,
    borrow_max_days: Option<u32>,
}

#[derive(Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum ModelRepr {
    #[default]
    NodeLocked,
    Floating,
}

/// The longest a check-in interval or freeze window may be: ten years.
const MAX_DAYS: u32 = 3650;

impl Catalog {
    /// Reads and checks the catalog at `path`.
    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError {
            file: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        Catalog::parse(&text, path)
    }

    /// Checks the catalog `text`, read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Catalog, CatalogError> {
        let fail = |message: String| CatalogError {
            file: path.to_path_buf(),
            message,
        };
        // toml's own messages name the line, the column and the key.
        let repr: FileRepr =
            toml::from_str(text).map_err(|e| fail(e.to_string().trim_end().to_string()))?;
        let line = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let mut catalog = Catalog {
            source: Some(path.to_path_buf()),
            ..Catalog::default()
        };
        if let Some(d) = repr.default {
            if let Some(id) = &d.id {
                return Err(fail(format!(
                    "line {}: [default] has no id (it is for every product the catalog does not list)",
                    line(id.span().start)
                )));
            }
            catalog.default = Some(entry(d, String::new(), &line).map_err(fail)?);
        }
        for (n, p) in repr.product.into_iter().enumerate() {
            let Some(id) = p.id.clone() else {
                return Err(fail(format!(
                    "[[product]] number {}: missing key `id` (the marketplace productId)",
                    n + 1
                )));
            };
            let at = line(id.span().start);
            let product = id.into_inner().trim().to_string();
            if product.is_empty() {
                return Err(fail(format!("line {at}: key `id` is empty")));
            }
            let e = entry(p, product.clone(), &line).map_err(fail)?;
            let at_index = catalog.entries.len();
            let slots = catalog.index.entry(product.clone()).or_default();
            let taken = match &e.sku {
                Some(sku) => slots.skus.insert(sku.clone(), at_index).is_some(),
                None => slots.any.replace(at_index).is_some(),
            };
            if taken {
                return Err(fail(format!(
                    "line {at}: key `id`: a second entry for product {product:?}{}",
                    e.sku
                        .as_deref()
                        .map(|s| format!(" sku {s:?}"))
                        .unwrap_or_default()
                )));
            }
            catalog.entries.push(e);
        }
        Ok(catalog)
    }

    /// The entry for a purchase of `product` (SKU `sku`): the most specific one.
    pub fn lookup(&self, product: &str, sku: &str) -> Lookup<'_> {
        let listed = self.index.get(product).and_then(|p| {
            let by_sku = (!sku.is_empty()).then(|| p.skus.get(sku)).flatten();
            by_sku.or(p.any.as_ref())
        });
        match (listed, &self.default) {
            (Some(&i), _) => Lookup::Listed(&self.entries[i]),
            (None, Some(d)) => Lookup::Default(d),
            (None, None) => Lookup::Missing,
        }
    }

    /// Whether a catalog file is configured.
    pub fn is_configured(&self) -> bool {
        self.source.is_some()
    }
}

/// An entry from its file form; errors name the line and key.
fn entry(r: EntryRepr, product: String, line: &dyn Fn(usize) -> usize) -> Result<Entry, String> {
    let at = r.id.as_ref().map(|id| line(id.span().start));
    let here = |key: &str| match at {
        Some(l) => format!("entry at line {l}, key `{key}`"),
        None => format!("[default], key `{key}`"),
    };
    let floating = floating_terms(&r, &here)?;
    let mut entitlements = Entitlements::new();
    let mut names: Vec<_> = r.entitlements.into_iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in names {
        let l = line(value.span().start);
        let v = match value.into_inner() {
            toml::Value::Boolean(b) => serde_json::Value::Bool(b),
            toml::Value::Integer(i) => serde_json::Value::from(i),
            toml::Value::String(s) => serde_json::Value::String(s),
            other => {
                return Err(format!(
                    "line {l}: entitlement `{name}` is a {}; entitlements are booleans, integers or strings",
                    other.type_str()
                ));
            }
        };
        entitlements.insert(name, v);
    }
    if r.check_in_days > MAX_DAYS {
        return Err(format!(
            "{}: {} is more than {MAX_DAYS} days",
            here("check_in_days"),
            r.check_in_days
        ));
    }
    if let Some(f) = r.freeze_days.filter(|&f| f > MAX_DAYS) {
        return Err(format!(
            "{}: {f} is more than {MAX_DAYS} days",
            here("freeze_days")
        ));
    }
    if let Some(t) = r.transfers_per_year.filter(|&t| t > 366) {
        return Err(format!(
            "{}: {t} is more than one a day (366)",
            here("transfers_per_year")
        ));
    }
    if r.seats == Some(0) {
        return Err(format!("{}: at least 1", here("seats")));
    }
    let name = match r.name.map(|n| n.trim().to_string()) {
        Some(n) if !n.is_empty() => n,
        _ if product.is_empty() => "default".to_string(),
        _ => product.clone(),
    };
    Ok(Entry {
        product,
        sku: r
            .sku
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        name,
        entitlements,
        seats: r.seats,
        binding: r.binding,
        check_in_days: r.check_in_days,
        freeze_days: r.freeze_days,
        transfers_per_year: r.transfers_per_year.unwrap_or(DEFAULT_TRANSFERS_PER_YEAR),
        floating,
    })
}

/// The lease terms of an entry: `None` for a node-locked one, which must not name any.
fn floating_terms(
    r: &EntryRepr,
    here: &dyn Fn(&str) -> String,
) -> Result<Option<Floating>, String> {
    if r.model == ModelRepr::NodeLocked {
        for (key, set) in [
            ("lease_secs", r.lease_secs.is_some()),
            ("linger_secs", r.linger_secs.is_some()),
            ("borrow_max_days", r.borrow_max_days.is_some()),
        ] {
            if set {
                return Err(format!(
                    "{}: only a floating product has leases (add model = \"floating\")",
                    here(key)
                ));
            }
        }
        return Ok(None);
    }
    let lease_secs = r.lease_secs.unwrap_or(DEFAULT_LEASE_SECS);
    if !(MIN_LEASE_SECS..=MAX_LEASE_SECS).contains(&lease_secs) {
        return Err(format!(
            "{}: {lease_secs} is outside {MIN_LEASE_SECS}..={MAX_LEASE_SECS} seconds",
            here("lease_secs")
        ));
    }
    let linger_secs = r.linger_secs.unwrap_or(0);
    if linger_secs > MAX_LINGER_SECS {
        return Err(format!(
            "{}: {linger_secs} is more than {MAX_LINGER_SECS} seconds",
            here("linger_secs")
        ));
    }
    let borrow_max_days = r.borrow_max_days.unwrap_or(0);
    if borrow_max_days > MAX_BORROW_DAYS {
        return Err(format!(
            "{}: {borrow_max_days} is more than {MAX_BORROW_DAYS} days",
            here("borrow_max_days")
        ));
    }
    Ok(Some(Floating {
        lease_secs,
        linger_secs,
        borrow_max_days,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Catalog, CatalogError> {
        Catalog::parse(text, Path::new("products.toml"))
    }

    const CAD: &str = r#"
[default]
name = "Basic"
[default.entitlements]
export_dxf = false

[[product]]
id = "OFFI1"
name = "CAD Standard"
seats = 2
[product.entitlements]
export_dxf = false
max_layers = 20

[[product]]
id = "OFFI1"
sku = "sku-pro"
name = "CAD Pro"
binding = "required"
check_in_days = 30
freeze_days = 10
[product.entitlements]
export_dxf = true
max_layers = 200
tier = "gold"
"#;

    #[test]
    fn the_most_specific_entry_wins() {
        let c = parse(CAD).unwrap();
        let pro = c.lookup("OFFI1", "sku-pro").entry().unwrap();
        assert_eq!(pro.name, "CAD Pro");
        assert_eq!(pro.entitlements["max_layers"], 200);
        assert_eq!(pro.entitlements["tier"], "gold");
        assert_eq!(pro.binding, BindingRule::Required);
        assert_eq!((pro.check_in_days, pro.freeze_days), (30, Some(10)));
        let std = c.lookup("OFFI1", "sku-std");
        assert!(matches!(std, Lookup::Listed(e) if e.name == "CAD Standard" && e.seats == Some(2)));
        assert!(matches!(c.lookup("OFFI1", ""), Lookup::Listed(e) if e.name == "CAD Standard"));
        assert!(matches!(c.lookup("OTHER", "sku-pro"), Lookup::Default(e) if e.name == "Basic"));
        let none = parse("[[product]]\nid = \"P\"\n").unwrap();
        assert_eq!(none.lookup("Q", ""), Lookup::Missing);
        assert_eq!(Catalog::default().lookup("Q", ""), Lookup::Missing);
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        for (text, expected) in [
            (
                "[[product]]\nid = \"P\"\nbinding = \"sometimes\"\n",
                "line 3",
            ),
            ("[[product]]\nid = \"P\"\ncolour = 1\n", "colour"),
            ("[[product]]\nname = \"no id\"\n", "missing key `id`"),
            (
                "[[product]]\nid = \"P\"\n[[product]]\nid = \"P\"\n",
                "line 4: key `id`: a second entry",
            ),
            (
                "[[product]]\nid = \"P\"\n[product.entitlements]\nratio = 1.5\n",
                "line 4: entitlement `ratio` is a float",
            ),
            (
                "[[product]]\nid = \"P\"\ncheck_in_days = 99999\n",
                "key `check_in_days`",
            ),
            ("[[product]]\nid = \"P\"\nseats = 0\n", "key `seats`"),
            ("[default]\nid = \"P\"\n", "line 2: [default] has no id"),
            ("[[product]]\nid = \"P\"\nseats = \"many\"\n", "line 3"),
            (
                "[[product]]\nid = \"P\"\nlease_secs = 60\n",
                "key `lease_secs`: only a floating product",
            ),
            (
                "[[product]]\nid = \"P\"\nmodel = \"floating\"\nlease_secs = 5\n",
                "key `lease_secs`: 5 is outside",
            ),
            (
                "[[product]]\nid = \"P\"\nmodel = \"floating\"\nborrow_max_days = 400\n",
                "key `borrow_max_days`",
            ),
            ("[[product]]\nid = \"P\"\nmodel = \"shared\"\n", "line 3"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with("products.toml: "), "{e}");
            assert!(e.contains(expected), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_floating_product_gets_lease_terms_with_defaults() {
        let c = parse(
            "[[product]]\nid = \"F\"\nmodel = \"floating\"\nlinger_secs = 30\n[[product]]\nid = \"N\"\n",
        )
        .unwrap();
        assert_eq!(
            c.lookup("F", "").entry().unwrap().floating,
            Some(Floating {
                lease_secs: DEFAULT_LEASE_SECS,
                linger_secs: 30,
                borrow_max_days: 0
            })
        );
        assert_eq!(c.lookup("N", "").entry().unwrap().floating, None);
    }

    #[test]
    fn entitlements_keep_their_types_and_names_sorted() {
        let c = parse(CAD).unwrap();
        let pro = c.lookup("OFFI1", "sku-pro").entry().unwrap();
        let names: Vec<&str> = pro.entitlements.keys().map(String::as_str).collect();
        assert_eq!(names, ["export_dxf", "max_layers", "tier"]);
        assert_eq!(pro.entitlements["export_dxf"], true);
    }
}
