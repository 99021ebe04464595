//! The papers' reference numbers, from `data/paper-reference.toml` (embedded at build time).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// The whole reference file.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Reference {
    pub(crate) sensitivity: Sensitivity,
    pub(crate) correction: Correction,
    pub(crate) mnist: Mnist,
}

/// Sawal & Wong 2025, section III.C.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Sensitivity {
    pub(crate) source: String,
    /// Shape name -> the paper's most sensitive layer.
    pub(crate) worst_layer: BTreeMap<String, String>,
}

/// Sawal & Wong 2025, Tables III and IV.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Correction {
    pub(crate) source: String,
    pub(crate) architecture: String,
    pub(crate) same_defect: BTreeMap<String, String>,
    pub(crate) cross_defect: Vec<Cross>,
}

/// One row of Table IV.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Cross {
    pub(crate) a: String,
    pub(crate) b: String,
    pub(crate) claim: String,
}

/// Li, Cho, Jin & Xu, the MNIST experiment.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Mnist {
    pub(crate) source: String,
    pub(crate) baseline_test: String,
}

/// The parsed reference file (parsed once; the file is checked by a unit test, so a parse
/// failure cannot ship, and would only blank the paper columns).
pub(crate) fn paper() -> &'static Reference {
    static REF: OnceLock<Reference> = OnceLock::new();
    REF.get_or_init(|| {
        toml::from_str(include_str!("../data/paper-reference.toml")).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reference_file_parses_and_cites_its_sources() {
        let r: super::Reference =
            toml::from_str(include_str!("../data/paper-reference.toml")).unwrap();
        assert_eq!(
            r.sensitivity.worst_layer["ring"],
            "first layer (0) most severe"
        );
        assert_eq!(r.correction.architecture, "MLP(10, 10)");
        assert_eq!(r.correction.cross_defect.len(), 4);
        for s in [&r.sensitivity.source, &r.correction.source, &r.mnist.source] {
            assert!(s.contains("20") || s.contains("Li,"), "{s}");
        }
    }
}
