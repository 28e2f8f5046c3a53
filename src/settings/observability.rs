//! `LOG_FORMAT` and `METRICS_ADDR`: how the site reports on itself.

use std::net::SocketAddr;

use super::vars::{SettingsError, Vars};

/// `LOG_FORMAT`: how log lines are written to standard error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    /// The format a `LOG_FORMAT` value names (any case); `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservabilitySettings {
    /// `LOG_FORMAT`. Logging starts before the settings are read, so it reads the variable
    /// itself (falling back to text); parsing it here too makes a bad value a start-up error.
    pub log_format: LogFormat,
    /// `METRICS_ADDR`: where `GET /metrics` (Prometheus) is served, apart from the site;
    /// unset, there are no metrics at all.
    pub metrics_addr: Option<SocketAddr>,
}

impl ObservabilitySettings {
    pub(super) fn parse(vars: &Vars) -> Result<Self, SettingsError> {
        let log_format = match vars.get("LOG_FORMAT") {
            None => LogFormat::Text,
            Some(value) => LogFormat::parse(&value).ok_or_else(|| SettingsError {
                name: "LOG_FORMAT",
                reason: "expected text or json".into(),
                value,
            })?,
        };
        let metrics_addr = match vars.get("METRICS_ADDR") {
            None => None,
            Some(value) => Some(value.parse().map_err(|_| SettingsError {
                name: "METRICS_ADDR",
                reason: "expected an address like 127.0.0.1:9100 (unset: no metrics)".into(),
                value,
            })?),
        };
        Ok(Self {
            log_format,
            metrics_addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::settings;
    use super::*;

    #[test]
    fn log_format_and_metrics_addr_are_read_and_checked() {
        let defaults = settings(&[]).unwrap().observability;
        assert_eq!(defaults.log_format, LogFormat::Text);
        assert_eq!(defaults.metrics_addr, None);

        let set = settings(&[("LOG_FORMAT", "JSON"), ("METRICS_ADDR", "127.0.0.1:9100")])
            .unwrap()
            .observability;
        assert_eq!(set.log_format, LogFormat::Json);
        assert_eq!(set.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));

        assert_eq!(
            settings(&[("LOG_FORMAT", "xml")]).unwrap_err().name,
            "LOG_FORMAT"
        );
        assert_eq!(
            settings(&[("METRICS_ADDR", "9100")]).unwrap_err().name,
            "METRICS_ADDR"
        );
    }
}
