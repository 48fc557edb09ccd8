//! Configs as [`serde_json::Value`]s: read them as strictly as the library does, change them by
//! dotted path as `mmhook train --cfg-options` does, and hand them to
//! [`Runner::from_value`](crate::Runner::from_value).
//!
//! ```no_run
//! use mmhook::{config, serde_json::json, Runner};
//! let mut cfg = config::from_file("configs/fashion_mnist_mlp.json")?;
//! config::set_path(&mut cfg, "train_cfg.max_epochs", json!(3))?;
//! config::apply_cfg_option(&mut cfg, "optim_wrapper.optimizer.lr=0.05")?;
//! cfg["work_dir"] = json!("work_dirs/short");
//! let mut runner = Runner::from_value(&cfg)?;
//! runner.train()?;
//! # Ok::<(), mmhook::Error>(())
//! ```
//!
//! Every error here has [`code::CONFIG`] (or [`code::IO`] for a file that cannot be read) and a
//! message naming the JSON path or option concerned.
use crate::{code, Error};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// The name of a JSON value's type, in the library's words (`"integer"`, `"list"`, ...).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn config_error(message: String) -> Error {
    Error::new(code::CONFIG, message)
}

/// Parses config text as strictly as `mmh_runner_create` does: a key written twice in one
/// object is an error naming its JSON path (serde_json alone would keep the last one), and the
/// top level must be an object. `origin` (a file name, or any label) starts every message.
pub fn from_str(text: &str, origin: &str) -> Result<Value, Error> {
    let value = parse_strict(text).map_err(|e| config_error(format!("{origin}: {e}")))?;
    check_object(&value).map_err(|e| config_error(format!("{origin}: {}", e.message)))?;
    Ok(value)
}

/// Reads a config file with [`from_str`]; the file name starts every message. A file that
/// cannot be read is a [`code::IO`] error.
pub fn from_file(path: impl AsRef<Path>) -> Result<Value, Error> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::new(code::IO, format!("config file '{}': {e}", path.display())))?;
    from_str(&text, &format!("config file '{}'", path.display()))
}

/// Ok for a JSON object; else a [`code::CONFIG`] error naming the type found.
pub(crate) fn check_object(config: &Value) -> Result<(), Error> {
    if config.is_object() {
        Ok(())
    } else {
        Err(config_error(format!(
            "config must be a JSON object, got {}",
            match config {
                Value::Array(_) => "a list".to_string(),
                other => type_name(other).to_string(),
            }
        )))
    }
}

/// Sets the value at a dotted `path` (`optim_wrapper.optimizer.lr`, `custom_hooks.0.priority`),
/// with the rules of `mmhook train --cfg-options`:
/// - every part but the last must exist: an object key (an unknown one is an error with a
///   did-you-mean), or a list index in range;
/// - the last part may add a new key to an object (the runner then rejects it unless it knows
///   it), or name an existing list item;
/// - the new value must have the type of the value it replaces (an integer may become a
///   number and back; anything may replace `null`).
///
/// To change a value's type or delete a key, edit the [`Value`] directly
/// (`cfg["default_hooks"]["checkpoint"] = Value::Null`).
pub fn set_path(config: &mut Value, path: &str, value: Value) -> Result<(), Error> {
    set_path_in(config, path, value).map_err(|m| config_error(format!("{path}: {m}")))
}

/// Applies one `KEY=VALUE` override as `mmhook train --cfg-options KEY=VALUE` does: VALUE is
/// read as JSON when it is valid JSON (strictly, as [`from_str`]; but any type), else taken as
/// a string (`work_dir=runs/a` needs no quotes); then [`set_path`]. Messages start with
/// `--cfg-options KEY`.
pub fn apply_cfg_option(config: &mut Value, option: &str) -> Result<(), Error> {
    let Some((key, text)) = option.split_once('=').filter(|(k, _)| !k.is_empty()) else {
        return Err(config_error(format!("--cfg-options '{option}': expected KEY=VALUE")));
    };
    let value = if serde_json::from_str::<de::IgnoredAny>(text).is_ok() {
        parse_strict(text).map_err(|e| config_error(format!("--cfg-options {key}: {e}")))?
    } else {
        Value::String(text.to_string())
    };
    set_path_in(config, key, value).map_err(|m| config_error(format!("--cfg-options {key}: {m}")))
}

/// [`apply_cfg_option`] for each option in turn; stops at the first error.
pub fn apply_cfg_options<I, S>(config: &mut Value, options: I) -> Result<(), Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    options
        .into_iter()
        .try_for_each(|o| apply_cfg_option(config, o.as_ref()))
}

/// The walk of [`set_path`]; the error is the message after the path.
fn set_path_in(config: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".to_string());
    }
    let parts: Vec<&str> = path.split('.').collect();
    if let Some(i) = parts.iter().position(|p| p.is_empty()) {
        return Err(format!(
            "empty key at part {} (a doubled, leading or trailing '.')",
            i + 1
        ));
    }
    let mut node = config;
    let mut walked = String::from("the config");
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let index = part
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse::<usize>().ok());
        let target = match node {
            Value::Array(items) => {
                let Some(Some(n)) = index else {
                    return Err(format!("{walked} is a list: '{part}' is not an index"));
                };
                let len = items.len();
                items
                    .get_mut(n)
                    .ok_or_else(|| format!("{walked}: index {n} out of range ({len} items)"))?
            }
            Value::Object(map) => {
                if !last && !map.contains_key(*part) {
                    return Err(no_key_message(&walked, part, map));
                }
                map.entry(part.to_string()).or_insert(Value::Null)
            }
            other => return Err(format!("{walked} is {}, not an object or list", type_name(other))),
        };
        walked = parts[..=i].join(".");
        node = target;
    }
    let numbers = node.is_number() && value.is_number();
    if !node.is_null() && !numbers && std::mem::discriminant(node) != std::mem::discriminant(&value) {
        return Err(format!("expected {}, got {value}", type_name(node)));
    }
    *node = value;
    Ok(())
}

fn no_key_message(walked: &str, part: &str, map: &Map<String, Value>) -> String {
    let hint = did_you_mean(part, map.keys().map(String::as_str))
        .map(|h| format!(" (did you mean '{h}'?)"))
        .unwrap_or_default();
    format!("{walked} has no key '{part}'{hint}")
}

/// The closest candidate by edit distance, if close enough (the library's rule: at most
/// max(2, len / 3) edits).
fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .map(|c| (edit_distance(name, c), c))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, _)| *d <= limit)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diag + usize::from(ca != *cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

// ------------------------------------------------------------------------------------------
// Strict parsing: serde_json's own Value keeps the last of two equal keys; this seed refuses
// the second, naming its path.

fn parse_strict(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue { path: String::new() }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Deserializes one value; `path` is where it sits (`a.b[2].c`; empty at the top level).
struct StrictValue {
    path: String,
}

impl StrictValue {
    fn child(&self, key: &str) -> StrictValue {
        StrictValue {
            path: if self.path.is_empty() {
                key.to_string()
            } else {
                format!("{}.{key}", self.path)
            },
        }
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json refuses literals beyond f64 itself, so this holds a finite number.
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{}: number out of range", self.shown())))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue {
            path: format!("{}[{}]", self.path, items.len()),
        })? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = self.child(&key);
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "{}: duplicate key (each key may appear once in an object)",
                    child.path
                )));
            }
            let v = map.next_value_seed(child)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

impl StrictValue {
    fn shown(&self) -> &str {
        if self.path.is_empty() {
            "the top level"
        } else {
            &self.path
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn edit_distance_and_hint() {
        assert_eq!(edit_distance("max_epoch", "max_epochs"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let keys = ["max_epochs", "val_interval", "by_epoch"];
        assert_eq!(did_you_mean("max_epoch", keys.into_iter()), Some("max_epochs"));
        assert_eq!(did_you_mean("zzzzzz", keys.into_iter()), None);
    }

    #[test]
    fn type_names_follow_the_library() {
        assert_eq!(type_name(&json!(1)), "integer");
        assert_eq!(type_name(&json!(1.5)), "number");
        assert_eq!(type_name(&json!([1])), "list");
        assert_eq!(type_name(&json!(null)), "null");
    }
}
