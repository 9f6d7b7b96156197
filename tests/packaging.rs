//! The files in `packaging/` against the code, so the templates cannot drift from the settings
//! `licd serve` really has: `licd.toml` is loaded through `Config::resolve`, every name in it
//! and in `licd.env` must be a real setting (and every setting must be documented), the
//! documented defaults must be the built-in ones, and the unit, the deb metadata and the nginx
//! example must agree on paths, ports and the body limit.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Args, Command};
use licd::config::{AccessKeySource, Config, ServeArgs};

/// Variables read outside clap: (name, the source file that must read it).
const EXTRA_ENV: [(&str, &str); 4] = [
    ("LICD_ACCESS_KEY", "src/server.rs"),
    ("LICD_MARKETPLACE_SK", "src/config.rs"),
    ("LICD_LOG_FORMAT", "src/main.rs"),
    ("RUST_LOG", ""),
];

/// Settings in the TOML template whose value is an example, not the default.
const EXAMPLES: [&str; 11] = [
    "access_key_file",
    "database_url",
    "products",
    "webhooks",
    "tls_cert",
    "tls_key",
    "marketplace_ak",
    "marketplace_sk_file",
    "trusted_proxy",
    "admin_tls_cert",
    "admin_tls_key",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `licd serve`'s arguments as clap sees them (built, so flags have their value parsers).
fn serve_command() -> Command {
    let mut cmd = ServeArgs::augment_args(Command::new("serve"));
    cmd.build();
    cmd
}

/// The arguments of `licd serve` that are settings (not --help, which building adds).
fn settings(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments().filter(|a| {
        !matches!(
            a.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        )
    })
}

/// The settings of `licd serve` in snake_case, as the `[serve]` table names them.
fn setting_names(cmd: &Command) -> BTreeSet<String> {
    settings(cmd)
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "config")
        .map(|l| l.replace('-', "_"))
        .collect()
}

/// A setting line of the TOML template: `name = value` or `# name = value`.
struct TomlLine {
    index: usize,
    commented: bool,
    name: String,
}

fn toml_settings(text: &str) -> Vec<TomlLine> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let (commented, rest) = match line.strip_prefix("# ") {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let (name, value) = rest.split_once(" = ")?;
            let is_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            (is_name && !value.is_empty()).then(|| TomlLine {
                index,
                commented,
                name: name.to_string(),
            })
        })
        .collect()
}

/// The template with the commented settings for which `uncomment` says yes made active.
fn uncommented(text: &str, uncomment: impl Fn(&str) -> bool) -> String {
    let chosen: BTreeSet<usize> = toml_settings(text)
        .into_iter()
        .filter(|s| s.commented && uncomment(&s.name))
        .map(|s| s.index)
        .collect();
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            if chosen.contains(&i) {
                &line[2..]
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn resolve_text(text: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("licd.toml");
    std::fs::write(&path, text).unwrap();
    Config::resolve(&ServeArgs {
        config: Some(path),
        ..ServeArgs::default()
    })
    .unwrap_or_else(|e| panic!("packaging/licd.toml (variant) does not load: {e}\n{text}"))
}

#[test]
fn toml_template_loads_with_the_production_settings() {
    let c = Config::resolve(&ServeArgs {
        config: Some(repo("packaging/licd.toml")),
        ..ServeArgs::default()
    })
    .expect("packaging/licd.toml loads");
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.admin_listen.to_string(), "127.0.0.1:8081");
    assert_eq!(c.data_dir, Path::new("/var/lib/licd/data"));
    assert_eq!(c.keys_dir, Path::new("/var/lib/licd/keys"));
    assert_eq!(c.callback_path, "/marketplace/callback");
    assert_eq!(c.issuer, "licd");
    assert_eq!(c.freeze_days, 15);
    assert!(c.tls.is_none());
    assert_eq!(c.v1_window_secs, Some(86_400));
    assert!(c.require_fingerprint);
    assert_eq!(c.cache_bytes, 32 * 1024 * 1024);
    assert_eq!(c.max_body_bytes, 65_536);
    assert!(!c.access_key_base64);
    if std::env::var_os("LICD_ACCESS_KEY").is_none() {
        assert_eq!(
            c.access_key,
            AccessKeySource::Generated(PathBuf::from("/var/lib/licd/data/access.key"))
        );
    }
}

#[test]
fn toml_template_documents_every_setting_and_only_real_ones() {
    let text = read("packaging/licd.toml");
    let known = setting_names(&serve_command());
    let listed: BTreeSet<String> = toml_settings(&text).into_iter().map(|s| s.name).collect();
    for name in &known {
        assert!(
            listed.contains(name),
            "packaging/licd.toml does not document `{name}`"
        );
    }
    for name in &listed {
        assert!(
            known.contains(name),
            "packaging/licd.toml lists `{name}`, which licd serve does not have"
        );
    }
}

#[test]
fn toml_template_defaults_are_the_built_in_ones() {
    let text = read("packaging/licd.toml");
    let known = setting_names(&serve_command());
    let template = resolve_text(&text);
    // Uncommenting every "default" line changes nothing …
    let defaults = resolve_text(&uncommented(&text, |n| {
        known.contains(n) && !EXAMPLES.contains(&n)
    }));
    assert_eq!(format!("{template:?}"), format!("{defaults:?}"));
    // … and every example is a valid value too.
    let all = resolve_text(&uncommented(&text, |n| known.contains(n)));
    assert_eq!(
        all.tls,
        Some((
            PathBuf::from("/etc/licd/tls/fullchain.pem"),
            PathBuf::from("/etc/licd/tls/privkey.pem")
        ))
    );
    if std::env::var_os("LICD_ACCESS_KEY").is_none() {
        assert_eq!(
            all.access_key,
            AccessKeySource::File(PathBuf::from("/etc/licd/access.key"))
        );
    }
}

/// `NAME=value` or `#NAME=value` lines of the env template.
fn env_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.strip_prefix('#').unwrap_or(line).split_once('=')?;
            let is_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            is_name.then(|| (name.to_string(), value.to_string()))
        })
        .collect()
}

#[test]
fn env_template_names_are_real_and_complete() {
    let text = read("packaging/licd.env");
    let cmd = serve_command();
    let lines = env_lines(&text);
    // The example values, as flags: clap parses them all at once (some flags require others).
    let mut argv = vec!["serve".to_string()];
    let listed: BTreeSet<&str> = lines.iter().map(|(n, _)| n.as_str()).collect();
    for arg in settings(&cmd) {
        let env = arg
            .get_env()
            .and_then(OsStr::to_str)
            .expect("every flag has an env name");
        assert!(
            listed.contains(env),
            "packaging/licd.env does not document {env}"
        );
    }
    for (name, value) in &lines {
        let arg = settings(&cmd).find(|a| a.get_env() == Some(OsStr::new(name)));
        match arg {
            Some(arg) if !value.is_empty() => {
                let long = arg.get_long().unwrap();
                if arg.get_action().takes_values() {
                    argv.push(format!("--{long}={value}"));
                } else {
                    // A switch: clap reads its variable as a bool, "true" or "false".
                    assert!(
                        value.parse::<bool>().is_ok(),
                        "packaging/licd.env: {name}={value}: not true or false"
                    );
                }
            }
            Some(_) => {}
            None => {
                let extra = EXTRA_ENV.iter().find(|(n, _)| n == name);
                match extra {
                    Some((_, "")) => {}
                    Some((_, source)) => assert!(
                        read(source).contains(&format!("\"{name}\"")),
                        "{source} no longer reads {name}, but packaging/licd.env documents it"
                    ),
                    None => panic!("packaging/licd.env documents {name}, which licd does not read"),
                }
            }
        }
    }
    if let Err(e) = cmd.clone().try_get_matches_from(&argv) {
        panic!("packaging/licd.env: an example value is not valid: {e}\n{argv:?}");
    }
}

#[test]
fn unit_deb_and_nginx_agree_with_the_templates() {
    let unit = read("packaging/licd.service");
    let has = |line: &str| unit.lines().any(|l| l == line);
    assert!(has(
        "ExecStart=/usr/bin/licd serve --config /etc/licd/licd.toml"
    ));
    assert!(has("EnvironmentFile=-/etc/licd/licd.env"));
    assert!(has("StateDirectory=licd"));
    assert!(has("User=licd"));
    assert!(has("UMask=0077"));
    assert!(has("CapabilityBoundingSet="));

    // The deb installs what the unit runs and reads.
    let manifest: toml::Value = read("Cargo.toml").parse().unwrap();
    let deb = &manifest["package"]["metadata"]["deb"];
    let assets: Vec<(String, String, String)> = deb["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_array().unwrap();
            let s = |i: usize| a[i].as_str().unwrap().to_string();
            (s(0), s(1), s(2))
        })
        .collect();
    let installs = |src: &str, dest: &str, mode: &str| {
        assets
            .iter()
            .any(|(s, d, m)| s == src && d == dest && m == mode)
    };
    assert!(installs("target/release/licd", "usr/bin/", "755"));
    assert!(installs("target/release/licctl", "usr/bin/", "755"));
    assert!(installs("packaging/licd.toml", "etc/licd/licd.toml", "644"));
    assert!(installs("packaging/licd.env", "etc/licd/licd.env", "600"));
    let conffiles: Vec<&str> = deb["conf-files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(conffiles, ["/etc/licd/licd.toml", "/etc/licd/licd.env"]);

    // The state directories the template names are the unit's StateDirectory.
    let c = Config::resolve(&ServeArgs {
        config: Some(repo("packaging/licd.toml")),
        ..ServeArgs::default()
    })
    .unwrap();
    assert!(c.data_dir.starts_with("/var/lib/licd"));
    assert!(c.keys_dir.starts_with("/var/lib/licd"));

    // nginx proxies to licd's listener, not to the admin one, and caps bodies like licd.
    let nginx = read("packaging/nginx/licd.conf");
    assert!(nginx.contains(&format!("server {};", c.listen)));
    let admin_port = format!(":{}", c.admin_listen.port());
    assert!(
        nginx
            .lines()
            .all(|l| l.trim_start().starts_with('#') || !l.contains(&admin_port)),
        "the nginx example must not reach the admin listener"
    );
    assert!(nginx.contains(&format!(
        "client_max_body_size {}k;",
        c.max_body_bytes / 1024
    )));
    assert!(nginx.contains(&format!("location = {} {{", c.callback_path)));
    // The V1 callback's query carries its authToken: the access log must not keep it.
    let format = nginx
        .split("log_format licd_noquery")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("a log format of our own");
    assert!(format.contains("$uri"), "{format}");
    for leak in [
        "$request ",
        "$request\"",
        "$request_uri",
        "$args",
        "$query_string",
    ] {
        assert!(
            !format.contains(leak),
            "the access log would keep {leak}: {format}"
        );
    }
    for line in nginx
        .lines()
        .filter(|l| l.trim_start().starts_with("access_log"))
    {
        assert!(line.contains("licd_noquery"), "{line}");
    }
    assert!(
        !nginx.contains("allow 203."),
        "no allow-list of marketplace addresses"
    );
}

/// The marketplace's source addresses are neither fixed nor published: advice to allow-list them
/// would block every callback. The callback location admits any address, and nothing tells an
/// ISV to filter by address.
#[test]
fn nothing_allow_lists_the_marketplace_by_address() {
    let nginx = read("packaging/nginx/licd.conf");
    let start = nginx
        .find("location = /marketplace/callback")
        .expect("callback location");
    let block = &nginx[start..start + nginx[start..].find('}').expect("end of location")];
    for line in block.lines().map(str::trim) {
        assert!(
            !line.starts_with("allow ") && line != "deny all;",
            "callback location filters by address: {line}"
        );
    }
    for doc in ["packaging/README.md", "README.md", "docs/operations.md"] {
        let text = read(doc);
        for bad in [
            "saddr",
            "ufw allow",
            "203.0.113.",
            "source addresses of the production",
        ] {
            assert!(
                !text.contains(bad),
                "{doc} still advises an address allow-list ({bad:?})"
            );
        }
    }
}

/// The example catalog is a valid catalog, and says what each key does.
#[test]
fn the_example_catalog_loads_and_explains_every_key() {
    let path = repo("packaging/products.toml");
    let catalog = licd::catalog::Catalog::load(&path).unwrap();
    let pro = catalog
        .lookup("OFFI454488918838374", "sku-pro")
        .entry()
        .unwrap();
    assert_eq!(pro.name, "CAD Pro");
    assert!(catalog.default.is_some());
    let text = read("packaging/products.toml");
    for key in [
        "id =",
        "sku =",
        "name =",
        "seats =",
        "binding =",
        "check_in_days =",
        "freeze_days =",
        "entitlements]",
    ] {
        assert!(text.contains(key), "products.toml does not show {key}");
    }
}
