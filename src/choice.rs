//! Named choices (activation, loss, optimizer, graphics API, matmul variant): one
//! list of values and one name per value, used to parse flags, checkpoints and
//! environment overrides alike, so that a name is written down exactly once.

use crate::error::{Error, Result};

/// An enum whose values have stable names (as on the command line and in checkpoints).
pub trait Choice: Copy + PartialEq + Sized + 'static {
    /// Every value, in the order help texts list them.
    const ALL: &'static [Self];
    /// What the values are, for error messages ("activation").
    const WHAT: &'static str;

    /// The value's name.
    fn name(self) -> &'static str;

    /// Other accepted spellings.
    fn aliases(self) -> &'static [&'static str] {
        &[]
    }

    /// The value named `name` (or one of its aliases).
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.name() == name || v.aliases().contains(&name))
    }

    /// Like `from_name`, with an error listing what is accepted.
    fn parse(name: &str) -> Result<Self> {
        Self::from_name(name).ok_or_else(|| {
            Error::Usage(format!(
                "{name:?} is not a {}; expected one of {}",
                Self::WHAT,
                Self::names().join(", ")
            ))
        })
    }

    /// Every value's name.
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.name()).collect()
    }
}
