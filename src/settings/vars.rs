//! Reading the variables: typed, validated, and failing with a message that names the setting.

use std::str::FromStr;

/// A setting that could not be used; the message names it and what it accepts.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}={value:?}: {reason}")]
pub struct SettingsError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

/// Typed access to the variables, for the sections; empty values count as unset.
pub(super) struct Vars<'a>(pub(super) &'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The comma-separated items of `name`, trimmed, empty ones dropped.
    pub(super) fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn parse<T: FromStr>(
        &self,
        name: &'static str,
        default: T,
        accepted: &str,
    ) -> Result<T, SettingsError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|_| SettingsError {
                name,
                reason: format!("expected {accepted}"),
                value,
            }),
        }
    }

    pub(super) fn flag(&self, name: &'static str, default: bool) -> Result<bool, SettingsError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => match value.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(SettingsError {
                    name,
                    value,
                    reason: "expected true or false".into(),
                }),
            },
        }
    }

    pub(super) fn ranged(
        &self,
        name: &'static str,
        default: i64,
        min: i64,
        max: i64,
    ) -> Result<i64, SettingsError> {
        let accepted = format!("a whole number from {min} to {max}");
        let number = self.parse(name, default, &accepted)?;
        if (min..=max).contains(&number) {
            Ok(number)
        } else {
            Err(SettingsError {
                name,
                value: number.to_string(),
                reason: format!("expected {accepted}"),
            })
        }
    }
}

pub use actix_session_engines::database::redact_url;
