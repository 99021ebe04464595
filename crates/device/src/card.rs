//! Device cards: a ReRAM cell's parameters in a small TOML file with explicit units.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{DeviceError, DeviceParams, IvModel, line_col};

/// The default card, `devices/hfox-stanford.toml`, embedded in the binary.
pub const DEFAULT_CARD_TOML: &str = include_str!("../../../devices/hfox-stanford.toml");
/// The linear-read variant, `devices/hfox-linear.toml`, embedded in the binary.
pub const LINEAR_CARD_TOML: &str = include_str!("../../../devices/hfox-linear.toml");

/// Names of the cards built into the binary, usable in place of a path.
pub const BUILTIN_CARDS: &[&str] = &["hfox-stanford", "hfox-linear"];

/// A device card as written in TOML (units in the key names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCard {
    /// Short identifier of the card.
    pub name: String,
    /// One-line description. Default empty.
    #[serde(default)]
    pub description: String,
    /// Where the parameter values come from. Default empty.
    #[serde(default)]
    pub source: String,
    /// Model parameters.
    pub model: RawModel,
}

/// The `[model]` table of a device card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawModel {
    /// Current prefactor I0, in A; allowed (0, 0.01].
    pub i0_amps: f64,
    /// Gap decay length g0, in nm; allowed (0, 2].
    pub g0_nm: f64,
    /// Nonlinearity voltage V0, in V; allowed (0, 10].
    pub v0_volts: f64,
    /// Smallest gap (stuck-on), in nm; allowed (0, 10].
    pub gap_min_nm: f64,
    /// Largest gap (stuck-off), in nm; allowed (gap-min-nm, 10].
    pub gap_max_nm: f64,
    /// Read I-V law: `sinh` (default) or `linear`.
    #[serde(default)]
    pub iv: IvModel,
}

/// A validated device card.
///
/// ```
/// let card = xbar_device::DeviceCard::builtin("hfox-stanford").unwrap();
/// assert_eq!(card.name, "hfox-stanford");
/// assert!((card.params.g_max() - 1.797316e-3).abs() < 1e-9);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceCard {
    /// Short identifier.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Provenance of the values.
    pub source: String,
    /// Where the card was read from (`builtin:<name>` or a path).
    pub origin: String,
    /// The parameters in SI units.
    pub params: DeviceParams,
}

impl DeviceCard {
    /// Parses and validates a card; `origin` names the file in error messages.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<DeviceCard, DeviceError> {
        let raw: RawCard = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            DeviceError::Parse {
                file: origin.to_string(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        let m = &raw.model;
        let params = DeviceParams {
            i0: m.i0_amps,
            g0: m.g0_nm / 1e9,
            v0: m.v0_volts,
            gap_min: m.gap_min_nm / 1e9,
            gap_max: m.gap_max_nm / 1e9,
            iv: m.iv,
        };
        params.validate().map_err(|issues| DeviceError::Invalid {
            file: origin.to_string(),
            issues,
        })?;
        Ok(DeviceCard {
            name: raw.name,
            description: raw.description,
            source: raw.source,
            origin: origin.to_string(),
            params,
        })
    }

    /// One of the [`BUILTIN_CARDS`].
    pub fn builtin(name: &str) -> Result<DeviceCard, DeviceError> {
        let text = match name {
            "hfox-stanford" => DEFAULT_CARD_TOML,
            "hfox-linear" => LINEAR_CARD_TOML,
            _ => {
                return Err(DeviceError::UnknownCard {
                    name: name.to_string(),
                    builtin: BUILTIN_CARDS.join(", "),
                });
            }
        };
        Self::from_toml_str(text, &format!("builtin:{name}"))
    }

    /// Reads a card from a file.
    pub fn from_file(path: &Path) -> Result<DeviceCard, DeviceError> {
        let text = std::fs::read_to_string(path).map_err(|source| DeviceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_cards_parse() {
        let s = DeviceCard::builtin("hfox-stanford").unwrap();
        assert_eq!(s.params, DeviceParams::default());
        let l = DeviceCard::builtin("hfox-linear").unwrap();
        assert_eq!(l.params.iv, IvModel::Linear);
        assert!(matches!(
            DeviceCard::builtin("nope"),
            Err(DeviceError::UnknownCard { .. })
        ));
    }

    #[test]
    fn unknown_key_is_reported_with_position() {
        let text = DEFAULT_CARD_TOML.replace("iv = \"sinh\"", "iv = \"sinh\"\ncolour = 3");
        let err = DeviceCard::from_toml_str(&text, "my.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("my.toml") && err.contains("colour"), "{err}");
    }

    #[test]
    fn bad_values_are_all_reported() {
        let text = DEFAULT_CARD_TOML
            .replace("g0-nm = 0.25", "g0-nm = -0.25")
            .replace("gap-max-nm = 1.7", "gap-max-nm = 0.1");
        let err = DeviceCard::from_toml_str(&text, "bad.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.g0-nm") && err.contains("model.gap-max-nm"),
            "{err}"
        );
    }

    #[test]
    fn nan_is_rejected() {
        let text = DEFAULT_CARD_TOML.replace("v0-volts = 0.25", "v0-volts = nan");
        let err = DeviceCard::from_toml_str(&text, "nan.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.v0-volts") && err.contains("NaN"),
            "{err}"
        );
    }
}
