//! `cargo xtask bump <patch|minor|major|X.Y.Z>`: one version for the whole workspace.
//!
//! Rewrites, as text so the files keep their comments and layout: `[workspace.package]
//! version` in the root manifest; the `version` of every internal crate in
//! `[workspace.dependencies]` (the entries with `path = "crates/..."`); any member manifest
//! that hard-codes its package version (publishable members only) or the version of a path
//! dependency on another member; and CHANGELOG.md, where a dated heading goes right under
//! `## [Unreleased]`, so the unreleased entries become the release's. Nothing is written
//! until every file has been rewritten in memory.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::{cmd, metadata};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
}

impl Version {
    fn parse(text: &str) -> Result<Version> {
        let parts: Vec<&str> = text.split('.').collect();
        let number = |part: &str| -> Option<u64> {
            let ok = !part.is_empty()
                && part.chars().all(|c| c.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'));
            ok.then(|| part.parse().ok()).flatten()
        };
        match parts.as_slice() {
            [a, b, c] => match (number(a), number(b), number(c)) {
                (Some(major), Some(minor), Some(patch)) => Ok(Version {
                    major,
                    minor,
                    patch,
                }),
                _ => bail!("`{text}` is not a version of the form X.Y.Z"),
            },
            _ => bail!("`{text}` is not a version of the form X.Y.Z"),
        }
    }

    fn next(self, how: &str) -> Result<Version> {
        let Version {
            major,
            minor,
            patch,
        } = self;
        let new = match how {
            "patch" => Version {
                patch: patch + 1,
                ..self
            },
            "minor" => Version {
                major,
                minor: minor + 1,
                patch: 0,
            },
            "major" => Version {
                major: major + 1,
                minor: 0,
                patch: 0,
            },
            explicit => Version::parse(explicit)
                .context("expected patch, minor, major or a version X.Y.Z")?,
        };
        if new <= self {
            bail!("the new version {new} is not above the current {self}");
        }
        Ok(new)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let [how] = args else {
        bail!("usage: cargo xtask bump <patch|minor|major|X.Y.Z>");
    };
    let root_text = fs::read_to_string("Cargo.toml").context("could not read Cargo.toml")?;
    let current =
        Version::parse(&workspace_version(&root_text)?).context("[workspace.package] version")?;
    let new = current.next(how)?;

    let ws = metadata::load()?;
    let names: Vec<String> = ws.members.iter().map(|p| p.name.clone()).collect();
    let root = std::env::current_dir().context("no current directory")?;
    let mut writes: Vec<(PathBuf, String)> =
        vec![(PathBuf::from("Cargo.toml"), rewrite_root(&root_text, new)?)];
    for package in &ws.members {
        let path = package
            .manifest_path
            .strip_prefix(&root)
            .unwrap_or(&package.manifest_path)
            .to_path_buf();
        let text = fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        let rewritten = rewrite_member(&text, new, &names, package.publishable);
        if rewritten != text {
            writes.push((path, rewritten));
        }
    }
    let changelog_path = Path::new("CHANGELOG.md");
    let old_changelog = match fs::read_to_string(changelog_path) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).context("could not read CHANGELOG.md"),
    };
    writes.push((
        changelog_path.to_path_buf(),
        changelog(old_changelog.as_deref(), new, &today()?)?,
    ));

    for (path, text) in &writes {
        fs::write(path, text).with_context(|| format!("could not write {}", path.display()))?;
        eprintln!("updated {}", path.display());
    }
    // Cargo.lock records the members' versions.
    cmd::run(cmd::cargo().args(["update", "--workspace"]))?;
    eprintln!("bumped {current} -> {new}");
    Ok(())
}

/// The byte range of the string value of `key` in a TOML line, for a top-level `key = "v"` or
/// an inline-table entry `name = { key = "v", ... }`. Not `rust-version` for `version`, not
/// `version.workspace = true`.
fn value_span(line: &str, key: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(found) = line[from..].find(key) {
        let start = from + found;
        from = start + key.len();
        let before = line[..start].trim_end();
        if !(before.is_empty() || before.ends_with('{') || before.ends_with(',')) {
            continue;
        }
        let Some(after_eq) = line[from..].trim_start().strip_prefix('=') else {
            continue;
        };
        let Some(value) = after_eq.trim_start().strip_prefix('"') else {
            continue;
        };
        let value_start = line.len() - value.len();
        let end = value.find('"')?;
        return Some((value_start, value_start + end));
    }
    None
}

fn string_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    value_span(line, key).map(|(a, b)| &line[a..b])
}

/// `line` with the version in the string value of `key` set to `new`, keeping an operator
/// such as `=` or `^` in front of it.
fn set_version(line: &str, key: &str, new: Version) -> Option<String> {
    let (start, end) = value_span(line, key)?;
    let value = &line[start..end];
    let operator = value.len()
        - value
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .len();
    Some(format!(
        "{}{new}{}",
        &line[..start + operator],
        &line[end..]
    ))
}

/// The table a header line opens (`[a.b]` gives `a.b`, `[[bin]]` gives `bin`).
fn header(line: &str) -> Option<String> {
    let line = line.trim();
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    Some(inner[..end].trim().to_owned())
}

/// Splits `text` into (table, line, line ending) triples, the table being the one each line
/// belongs to (the empty string before the first header).
fn lines(text: &str) -> Vec<(String, &str, &str)> {
    let mut table = String::new();
    let mut out = Vec::new();
    for raw in text.split_inclusive('\n') {
        let body = raw.trim_end_matches(['\n', '\r']);
        if let Some(name) = header(body) {
            table = name;
        }
        out.push((table.clone(), body, &raw[body.len()..]));
    }
    out
}

/// `[workspace.package] version`.
fn workspace_version(toml: &str) -> Result<String> {
    lines(toml)
        .into_iter()
        .find_map(|(table, line, _)| {
            (table == "workspace.package")
                .then(|| string_value(line, "version"))
                .flatten()
                .filter(|_| line.trim_start().starts_with("version"))
                .map(str::to_owned)
        })
        .context("Cargo.toml has no `version = \"...\"` in [workspace.package]")
}

fn is_internal_path(path: &str) -> bool {
    path.starts_with("crates/")
}

fn rewrite_root(toml: &str, new: Version) -> Result<String> {
    let all = lines(toml);
    // Dotted tables `[workspace.dependencies.NAME]` with an internal path.
    let internal_tables: Vec<&String> = all
        .iter()
        .filter(|(table, line, _)| {
            table.starts_with("workspace.dependencies.")
                && string_value(line, "path").is_some_and(is_internal_path)
        })
        .map(|(table, _, _)| table)
        .collect();
    let mut out = String::with_capacity(toml.len());
    let mut found = false;
    for (table, line, ending) in &all {
        let top_level_version = line.trim_start().starts_with("version");
        let package_version = table == "workspace.package" && top_level_version;
        found |= package_version;
        let internal = (table == "workspace.dependencies"
            && string_value(line, "path").is_some_and(is_internal_path))
            || (internal_tables.contains(&table) && top_level_version);
        let rewritten = if package_version || internal {
            set_version(line, "version", new)
        } else {
            None
        };
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push_str(ending);
    }
    if !found {
        bail!("Cargo.toml has no `version = \"...\"` in [workspace.package]");
    }
    Ok(out)
}

/// Whether `table` is a dependency table: `dependencies`, `dev-dependencies`,
/// `target.'cfg(unix)'.build-dependencies`, ...
fn is_dependency_table(table: &str) -> bool {
    table
        .rsplit('.')
        .next()
        .is_some_and(|last| last.ends_with("dependencies"))
}

fn rewrite_member(toml: &str, new: Version, members: &[String], publishable: bool) -> String {
    let all = lines(toml);
    let is_member = |name: &str| members.iter().any(|m| m == name);
    // Dotted tables `[dependencies.NAME]` for a member reached by path.
    let member_tables: Vec<&String> = all
        .iter()
        .filter(|(table, _, _)| {
            table.rsplit_once('.').is_some_and(|(parent, name)| {
                is_dependency_table(parent) && is_member(name.trim_matches(['"', '\'']))
            })
        })
        .filter(|(table, _, _)| {
            all.iter()
                .any(|(t, line, _)| t == table && string_value(line, "path").is_some())
        })
        .map(|(table, _, _)| table)
        .collect();
    let mut out = String::with_capacity(toml.len());
    for (table, line, ending) in &all {
        let top_level_version = line.trim_start().starts_with("version");
        let rewritten = if table == "package" && publishable && top_level_version {
            set_version(line, "version", new)
        } else if is_dependency_table(table) && string_value(line, "path").is_some() {
            let key = line
                .split_once('=')
                .map(|(key, _)| key.trim().trim_matches(['"', '\'']))
                .unwrap_or_default();
            let name = string_value(line, "package").unwrap_or(key);
            if is_member(name) {
                set_version(line, "version", new)
            } else {
                None
            }
        } else if member_tables.contains(&table) && top_level_version {
            set_version(line, "version", new)
        } else {
            None
        };
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push_str(ending);
    }
    out
}

const UNRELEASED: &str = "## [Unreleased]";

/// CHANGELOG.md with `## [version] - date` right under `## [Unreleased]`.
fn changelog(existing: Option<&str>, version: Version, date: &str) -> Result<String> {
    let text = existing.unwrap_or("# Changelog\n\n## [Unreleased]\n");
    let heading = format!("## [{version}]");
    if text.lines().any(|line| line.starts_with(&heading)) {
        bail!("CHANGELOG.md already has a `{heading}` section");
    }
    let new = format!("{heading} - {date}\n");
    let mut out = String::with_capacity(text.len() + 64);
    let mut placed = false;
    for line in text.split_inclusive('\n') {
        if !placed && line.starts_with("## ") && !line.trim_end().eq_ignore_ascii_case(UNRELEASED) {
            // No Unreleased section above the first release: add one.
            out.push_str(UNRELEASED);
            out.push_str("\n\n");
            out.push_str(&new);
            out.push('\n');
            placed = true;
        }
        out.push_str(line);
        if !placed && line.trim_end().eq_ignore_ascii_case(UNRELEASED) {
            if !line.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
            out.push_str(&new);
            placed = true;
        }
    }
    if !placed {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
        out.push_str(UNRELEASED);
        out.push_str("\n\n");
        out.push_str(&new);
    }
    Ok(out)
}

/// Today's UTC date as `YYYY-MM-DD`, from the system clock.
fn today() -> Result<String> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let days = i64::try_from(secs / 86_400).context("the system clock is too far ahead")?;
    let (y, m, d) = civil_from_days(days);
    Ok(format!("{y:04}-{m:02}-{d:02}"))
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March is 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction: month in 1..=12, day in 1..=31.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn version_arithmetic() {
        for (current, how, expected) in [
            ("0.1.0", "patch", "0.1.1"),
            ("0.1.9", "patch", "0.1.10"),
            ("0.1.3", "minor", "0.2.0"),
            ("0.9.3", "major", "1.0.0"),
            ("1.2.3", "1.10.0", "1.10.0"),
        ] {
            assert_eq!(
                v(current).next(how).unwrap(),
                v(expected),
                "{current} {how}"
            );
        }
        for (current, how) in [
            ("0.2.0", "0.1.9"),
            ("0.2.0", "0.2.0"),
            ("0.2.0", "banana"),
            ("0.2.0", "1.0"),
            ("0.2.0", "1.0.0-rc.1"),
            ("0.2.0", "01.0.0"),
        ] {
            assert!(v(current).next(how).is_err(), "{current} {how}");
        }
        assert_eq!(v("10.20.30").to_string(), "10.20.30");
    }

    const ROOT: &str = r#"[workspace]
members = ["crates/*"]

[workspace.package]
version = "0.1.0" # the one version
rust-version = "1.95"

[workspace.dependencies]
# Internal crates.
rlm-core = { path = "crates/rlm-core", version = "0.1.0" }
recursive-lm = { path = "crates/recursive-lm", version = "=0.1.0", default-features = false }
rlm-testkit = { path = "crates/rlm-testkit" }
serde = { version = "0.1.0" }
vendored = { path = "vendor/x", version = "0.1.0" }

[workspace.dependencies.rlm-limits]
version = "0.1.0"
path = "crates/rlm-limits"
"#;

    #[test]
    fn rewrites_the_root_manifest() {
        assert_eq!(workspace_version(ROOT).unwrap(), "0.1.0");
        let expected = ROOT
            .replace(
                "version = \"0.1.0\" # the one",
                "version = \"0.2.0\" # the one",
            )
            .replace(
                "\"crates/rlm-core\", version = \"0.1.0\"",
                "\"crates/rlm-core\", version = \"0.2.0\"",
            )
            .replace("version = \"=0.1.0\"", "version = \"=0.2.0\"")
            .replace(
                "version = \"0.1.0\"\npath = \"crates/rlm-limits\"",
                "version = \"0.2.0\"\npath = \"crates/rlm-limits\"",
            );
        assert_eq!(rewrite_root(ROOT, v("0.2.0")).unwrap(), expected);
        // CRLF files keep their line endings.
        let crlf = ROOT.replace('\n', "\r\n");
        assert_eq!(
            rewrite_root(&crlf, v("0.2.0")).unwrap(),
            expected.replace('\n', "\r\n")
        );
        assert!(rewrite_root("[workspace]\nversion = \"1.0.0\"\n", v("2.0.0")).is_err());
    }

    #[test]
    fn rewrites_member_manifests() {
        let members = ["rlm-core".to_owned(), "rlm-limits".to_owned()];
        let member = r#"[package]
name = "rlm-x"
version = "0.1.0"
rust-version.workspace = true

[dependencies]
rlm-core = { path = "../rlm-core", version = "0.1.0" }
core2 = { package = "rlm-core", path = "../rlm-core", version = "0.1.0" }
other = { path = "../../vendor/other", version = "0.1.0" }
serde = { version = "1.0.0" }

[target.'cfg(unix)'.dev-dependencies.rlm-limits]
path = "../rlm-limits"
version = "0.1.0"
"#;
        let expected = member
            .replace("version = \"0.1.0\"\nrust", "version = \"0.2.0\"\nrust")
            .replace(
                "\"../rlm-core\", version = \"0.1.0\"",
                "\"../rlm-core\", version = \"0.2.0\"",
            )
            .replace(
                "\"../rlm-limits\"\nversion = \"0.1.0\"",
                "\"../rlm-limits\"\nversion = \"0.2.0\"",
            );
        assert_eq!(rewrite_member(member, v("0.2.0"), &members, true), expected);
        // An unpublished member keeps its own version but follows its dependencies.
        let unpublished =
            expected.replace("version = \"0.2.0\"\nrust", "version = \"0.1.0\"\nrust");
        assert_eq!(
            rewrite_member(member, v("0.2.0"), &members, false),
            unpublished
        );
        let workspace_managed =
            "[package]\nversion.workspace = true\n\n[dependencies]\nrlm-core.workspace = true\n";
        assert_eq!(
            rewrite_member(workspace_managed, v("0.2.0"), &members, true),
            workspace_managed
        );
    }

    #[test]
    fn changelog_headings() {
        let check = |existing: Option<&str>, expected: &str| {
            assert_eq!(
                changelog(existing, v("0.2.0"), "2026-03-01").unwrap(),
                expected
            );
        };
        check(
            None,
            "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2026-03-01\n",
        );
        check(
            Some("# Changelog\n\n## [Unreleased]\n\n- First release.\n\n## [0.1.0] - 2025-01-01\n"),
            "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2026-03-01\n\n- First release.\n\n\
             ## [0.1.0] - 2025-01-01\n",
        );
        check(
            Some("# Changelog\n\n## [0.1.0] - 2025-01-01\n"),
            "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2026-03-01\n\n## [0.1.0] - 2025-01-01\n",
        );
        check(
            Some("# Changelog"),
            "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2026-03-01\n",
        );
        assert!(changelog(Some("## [0.2.0] - 2026-01-01\n"), v("0.2.0"), "x").is_err());
    }

    #[test]
    fn civil_dates() {
        for (days, date) in [
            (0, (1970, 1, 1)),
            (-1, (1969, 12, 31)),
            (11_016, (2000, 2, 29)),
            (11_017, (2000, 3, 1)),
            (19_782, (2024, 2, 29)),
            (47_541, (2100, 3, 1)),
        ] {
            assert_eq!(civil_from_days(days), date, "day {days}");
        }
        let today = today().unwrap();
        assert_eq!(today.len(), 10, "{today}");
    }
}
