//! Assembles the `millpond._native` Python module.
//!
//! The arithmetic lives in modules named after what they compute; this file
//! only converts arguments and registers functions. Every function here has a
//! pure-Python twin in `millpond._pure` with the same name and signature.

pub mod schedule;

use pyo3::prelude::*;

/// Return the instant `every_us` microseconds after `after_us`, or None.
///
/// Both values are microseconds since the Unix epoch (UTC). None means "no
/// further runs": the interval is not positive, or the result falls outside
/// the range of Python's `datetime`.
#[pyfunction]
fn interval_next(after_us: i64, every_us: i64) -> Option<i64> {
    schedule::interval_next(after_us, every_us)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(interval_next, m)?)?;
    m.add("MIN_US", schedule::MIN_US)?;
    m.add("MAX_US", schedule::MAX_US)?;
    Ok(())
}
