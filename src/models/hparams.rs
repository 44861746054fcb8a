//! Model hyperparameters from the command line: `--hparam NAME=VALUE` (repeatable), saved in
//! config.json so `eval`, `sample` and `--resume` rebuild the same model.
//!
//! Each model reads the names it knows through an `Overrides` (`o.f32("gamma", &mut
//! self.gamma)`); whatever is left unread afterwards is an error that lists the names the
//! model does know, with their current values, so a typo never trains the default silently.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::{Error, Result};

/// NAME -> VALUE as the user typed them (values are parsed by the model that reads them).
pub type Hparams = BTreeMap<String, String>;

/// Parse `NAME=VALUE` items; a name given twice keeps the last value, as flags do.
pub fn parse(items: &[String]) -> Result<Hparams> {
    let mut out = Hparams::new();
    for item in items {
        let Some((name, value)) = item.split_once('=') else {
            return Err(Error::Config(format!(
                "--hparam expects NAME=VALUE (e.g. --hparam gamma=0.1), got '{item}'"
            )));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || value.is_empty() {
            return Err(Error::Config(format!(
                "--hparam expects NAME=VALUE with both parts non-empty, got '{item}'"
            )));
        }
        out.insert(name.to_string(), value.to_string());
    }
    Ok(out)
}

/// Hyperparameters whose default changed after runs had been saved without them, with the
/// value those runs used: (model, name, value). A saved config.json records every name its
/// model had when it ran, so a name it lacks was added later, and the run trained with the
/// value the model had before the name existed (see `fill_saved`).
const BEFORE_NAMED: &[(&str, &str, &str)] = &[
    // InfoGAN's defaults became the official MNIST recipe's (2026-11-22).
    ("infogan", "updates", "simultaneous"),
    ("infogan", "noise_prior", "normal"),
    ("infogan", "cont_std", "learned"),
    ("infogan", "slope", "0.1"),
];

/// Complete the hyperparameters of a saved run of `model` with the values in use before a
/// name existed, so a run saved before a default changed rebuilds the model it trained.
pub fn fill_saved(model: &str, saved: &mut Hparams) {
    for (m, name, value) in BEFORE_NAMED {
        if *m == model {
            saved
                .entry(name.to_string())
                .or_insert_with(|| value.to_string());
        }
    }
}

/// The given hyperparameters, consumed by one model's setters.
pub struct Overrides<'a> {
    model: &'a str,
    given: &'a Hparams,
    /// Every name the model offered, with its value after this pass ("name=value").
    known: Vec<String>,
    used: Vec<&'a str>,
}

impl<'a> Overrides<'a> {
    pub fn new(model: &'a str, given: &'a Hparams) -> Self {
        Overrides {
            model,
            given,
            known: Vec::new(),
            used: Vec::new(),
        }
    }

    /// A number: `name=0.5`. Must be finite.
    pub fn f32(&mut self, name: &'static str, slot: &mut f32) -> Result<()> {
        self.scalar(name, slot)?;
        match slot.is_finite() {
            true => Ok(()),
            false => Err(self.bad(name, "a finite number")),
        }
    }

    /// A number in [lo, hi): `slope=0.01`.
    pub fn f32_in(&mut self, name: &'static str, slot: &mut f32, lo: f32, hi: f32) -> Result<()> {
        self.f32(name, slot)?;
        match (lo..hi).contains(slot) {
            true => Ok(()),
            false => Err(self.bad(name, &format!("a number in [{lo}, {hi})"))),
        }
    }

    /// A count: `name=64`. Must be at least 1.
    pub fn count(&mut self, name: &'static str, slot: &mut usize) -> Result<()> {
        self.scalar(name, slot)?;
        match *slot >= 1 {
            true => Ok(()),
            false => Err(self.bad(name, "a whole number of at least 1")),
        }
    }

    /// N counts separated by commas: `widths=32,64,128`.
    pub fn counts<const N: usize>(
        &mut self,
        name: &'static str,
        slot: &mut [usize; N],
    ) -> Result<()> {
        if let Some(text) = self.take(name) {
            let parts: Vec<Option<usize>> = text
                .split(',')
                .map(|p| p.trim().parse().ok().filter(|v| *v >= 1))
                .collect();
            match parts.iter().copied().collect::<Option<Vec<usize>>>() {
                Some(v) if v.len() == N => slot.copy_from_slice(&v),
                _ => {
                    return Err(
                        self.bad(name, &format!("{N} whole numbers >= 1 separated by commas"))
                    )
                }
            }
        }
        let shown: Vec<String> = slot.iter().map(|v| v.to_string()).collect();
        self.known.push(format!("{name}={}", shown.join(",")));
        Ok(())
    }

    /// One of `options`: `name=dot`. `slot` holds the current choice.
    pub fn choice(
        &mut self,
        name: &'static str,
        slot: &mut &'static str,
        options: &[&'static str],
    ) -> Result<()> {
        if let Some(text) = self.take(name) {
            *slot = match options.iter().find(|o| **o == text) {
                Some(o) => o,
                None => return Err(self.bad(name, &format!("one of {}", options.join(", ")))),
            };
        }
        self.known.push(format!("{name}={slot}"));
        Ok(())
    }

    /// Every hyperparameter the model offered, with its value after this pass: what
    /// config.json records, so a run rebuilds the same model even if defaults change later.
    pub fn resolved(&self) -> Hparams {
        self.known
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Error on any given name no setter read, listing the names this model knows.
    pub fn finish(self) -> Result<()> {
        let unknown: Vec<&str> = self
            .given
            .keys()
            .map(String::as_str)
            .filter(|k| !self.used.contains(k))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let offer = match self.known.is_empty() {
            true => "it has no settable hyperparameters".to_string(),
            false => format!("settable: {}", self.known.join(" ")),
        };
        Err(Error::Config(format!(
            "model {} has no hyperparameter {}; {offer}",
            self.model,
            unknown.join(", ")
        )))
    }

    fn scalar<V: FromStr + ToString>(&mut self, name: &'static str, slot: &mut V) -> Result<()> {
        if let Some(text) = self.take(name) {
            *slot = text.parse().map_err(|_| self.bad(name, "a number"))?;
        }
        self.known.push(format!("{name}={}", slot.to_string()));
        Ok(())
    }

    fn take(&mut self, name: &'static str) -> Option<&'a str> {
        let (key, value) = self.given.get_key_value(name)?;
        self.used.push(key.as_str());
        Some(value.as_str())
    }

    fn bad(&self, name: &str, want: &str) -> Error {
        Error::Config(format!(
            "--hparam {name}={} for model {}: expected {want}",
            self.given.get(name).map(String::as_str).unwrap_or(""),
            self.model
        ))
    }
}
