//! Assembles the `millpond._native` Python module.
//!
//! The arithmetic lives in modules named after what they compute; this file
//! only converts arguments and registers classes and functions. Every name
//! here has a pure-Python twin in `millpond._pure` with the same signature,
//! results and error messages.

pub mod calendar;
pub mod cron;
pub mod daily;
pub mod file_store;
pub mod fixed_time;
pub mod multi;
pub mod schedule;
pub mod store_core;
pub mod store_format;
pub mod store_json;
pub mod tz;

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString};

use crate::cron::Masks;
use crate::schedule::Spec;

/// Return the instant `every_us` microseconds after `after_us`, or None.
///
/// Both values are microseconds since the Unix epoch (UTC). None means "no
/// further runs": the interval is not positive, or the result falls outside
/// the range of Python's `datetime`.
#[pyfunction]
fn interval_next(after_us: i64, every_us: i64) -> Option<i64> {
    schedule::interval_next(after_us, every_us)
}

/// A time zone: `TZif` data read for an IANA key, or a fixed offset.
#[pyclass(frozen, module = "millpond._native", name = "Zone")]
struct PyZone {
    zone: tz::Zone,
}

#[pymethods]
impl PyZone {
    #[staticmethod]
    fn from_tzif(key: &Bound<'_, PyAny>, data: &Bound<'_, PyAny>) -> PyResult<PyZone> {
        let (Ok(key), Ok(data)) = (key.cast::<PyString>(), data.cast::<PyBytes>()) else {
            return Err(PyTypeError::new_err(
                "Zone.from_tzif() expects a str key and bytes data",
            ));
        };
        let zone =
            tz::Zone::from_tzif(key.to_str()?, data.as_bytes()).map_err(PyValueError::new_err)?;
        Ok(PyZone { zone })
    }

    #[staticmethod]
    fn fixed(offset_seconds: &Bound<'_, PyAny>) -> PyResult<PyZone> {
        // A saturated value is out of range too; the message shows the int given.
        let offset = saturating_int(offset_seconds, "offset_seconds")?;
        let zone = tz::Zone::fixed(offset)
            .map_err(|_| PyValueError::new_err(tz::invalid_fixed_offset(offset_seconds)))?;
        Ok(PyZone { zone })
    }

    #[getter]
    fn key(&self) -> Option<&str> {
        self.zone.key()
    }

    fn utc_offset(&self, instant_us: &Bound<'_, PyAny>) -> PyResult<i64> {
        let instant = saturating_int(instant_us, "instant_us")?;
        Ok(self.zone.offset_at_micros(instant))
    }

    fn __repr__(&self) -> String {
        match self.zone.key() {
            Some(key) => format!("Zone.from_tzif({key:?}, ...)"),
            None => format!("Zone.fixed({})", self.zone.offset_at(0)),
        }
    }
}

/// Run every `every_us` microseconds of elapsed time.
#[pyclass(frozen, module = "millpond._native", name = "IntervalSpec")]
struct PyIntervalSpec {
    spec: Arc<Spec>,
}

#[pymethods]
impl PyIntervalSpec {
    #[new]
    fn new(every_us: &Bound<'_, PyAny>) -> PyResult<PyIntervalSpec> {
        // Saturating keeps the results: past i64 the sum is past MAX_US, and
        // below it the interval is not positive.
        let every_us = saturating_int(every_us, "every_us")?;
        Ok(PyIntervalSpec {
            spec: Arc::new(Spec::Interval(every_us)),
        })
    }

    fn next(&self, after_us: i64) -> Option<i64> {
        self.spec.next(after_us)
    }

    fn upcoming(
        &self,
        py: Python<'_>,
        after_us: i64,
        count: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<i64>> {
        let count = count_argument(count)?;
        Ok(upcoming(py, &self.spec, after_us, count))
    }
}

/// Run at fixed minutes of the local day on chosen weekdays.
#[pyclass(frozen, module = "millpond._native", name = "DailySpec")]
struct PyDailySpec {
    spec: Arc<Spec>,
}

#[pymethods]
impl PyDailySpec {
    #[new]
    fn new(
        minutes: &Bound<'_, PyAny>,
        weekdays: &Bound<'_, PyAny>,
        zone: &Bound<'_, PyAny>,
    ) -> PyResult<PyDailySpec> {
        let minutes = minutes_argument(minutes)?;
        let weekdays = mask_argument(weekdays, "weekdays", 0, 6)?;
        let zone = zone_argument(zone)?;
        let daily =
            daily::DailySpec::new(&minutes, weekdays, zone).map_err(PyValueError::new_err)?;
        Ok(PyDailySpec {
            spec: Arc::new(daily.into()),
        })
    }

    fn next(&self, after_us: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        Ok(self.spec.next(after_argument(after_us)?))
    }

    fn upcoming(
        &self,
        py: Python<'_>,
        after_us: &Bound<'_, PyAny>,
        count: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<i64>> {
        let count = count_argument(count)?;
        Ok(upcoming(py, &self.spec, after_argument(after_us)?, count))
    }
}

/// Run at the wall times a parsed cron expression matches.
#[pyclass(frozen, module = "millpond._native", name = "CronSpec")]
struct PyCronSpec {
    spec: Arc<Spec>,
}

#[pymethods]
impl PyCronSpec {
    #[new]
    #[expect(
        clippy::too_many_arguments,
        reason = "five cron fields, two rules and a zone"
    )]
    fn new(
        minutes: &Bound<'_, PyAny>,
        hours: &Bound<'_, PyAny>,
        days: &Bound<'_, PyAny>,
        months: &Bound<'_, PyAny>,
        weekdays: &Bound<'_, PyAny>,
        day_or: &Bound<'_, PyAny>,
        real_time: &Bound<'_, PyAny>,
        zone: &Bound<'_, PyAny>,
    ) -> PyResult<PyCronSpec> {
        let masks = Masks {
            minutes: mask_argument(minutes, "minutes", 0, 59)?,
            hours: mask_argument(hours, "hours", 0, 23)?,
            days: mask_argument(days, "days", 1, 31)?,
            months: mask_argument(months, "months", 1, 12)?,
            weekdays: mask_argument(weekdays, "weekdays", 0, 6)?,
        };
        let (Ok(day_or), Ok(real_time)) = (day_or.cast::<PyBool>(), real_time.cast::<PyBool>())
        else {
            return Err(PyTypeError::new_err("day_or and real_time must be bools"));
        };
        let zone = zone_argument(zone)?;
        let cron = cron::CronSpec::new(masks, day_or.is_true(), real_time.is_true(), zone)
            .map_err(PyValueError::new_err)?;
        Ok(PyCronSpec {
            spec: Arc::new(cron.into()),
        })
    }

    fn next(&self, after_us: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        Ok(self.spec.next(after_argument(after_us)?))
    }

    fn upcoming(
        &self,
        py: Python<'_>,
        after_us: &Bound<'_, PyAny>,
        count: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<i64>> {
        let count = count_argument(count)?;
        Ok(upcoming(py, &self.spec, after_argument(after_us)?, count))
    }
}

/// Run whenever any member runs.
#[pyclass(frozen, module = "millpond._native", name = "MultiSpec")]
struct PyMultiSpec {
    spec: Arc<Spec>,
}

#[pymethods]
impl PyMultiSpec {
    #[new]
    fn new(members: &Bound<'_, PyAny>) -> PyResult<PyMultiSpec> {
        let mut specs = Vec::new();
        for (index, member) in members.try_iter()?.enumerate() {
            specs.push(member_spec(&member?, index)?);
        }
        Ok(PyMultiSpec {
            spec: Arc::new(multi::MultiSpec::new(specs).into()),
        })
    }

    fn next(&self, after_us: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        Ok(self.spec.next(after_argument(after_us)?))
    }

    fn upcoming(
        &self,
        py: Python<'_>,
        after_us: &Bound<'_, PyAny>,
        count: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<i64>> {
        let count = count_argument(count)?;
        Ok(upcoming(py, &self.spec, after_argument(after_us)?, count))
    }
}

/// Compute `upcoming` with the interpreter detached, so that other Python
/// threads run while a long batch is computed.
fn upcoming(py: Python<'_>, spec: &Arc<Spec>, after_us: i64, count: usize) -> Vec<i64> {
    py.detach(|| spec.upcoming(after_us, count))
}

/// Return the schedule inside one of this module's spec objects.
fn member_spec(member: &Bound<'_, PyAny>, index: usize) -> PyResult<Arc<Spec>> {
    if let Ok(spec) = member.cast::<PyIntervalSpec>() {
        return Ok(Arc::clone(&spec.get().spec));
    }
    if let Ok(spec) = member.cast::<PyDailySpec>() {
        return Ok(Arc::clone(&spec.get().spec));
    }
    if let Ok(spec) = member.cast::<PyCronSpec>() {
        return Ok(Arc::clone(&spec.get().spec));
    }
    if let Ok(spec) = member.cast::<PyMultiSpec>() {
        return Ok(Arc::clone(&spec.get().spec));
    }
    Err(PyTypeError::new_err(format!(
        "members[{index}] must be a spec of this backend, got {}",
        member.get_type().name()?
    )))
}

/// Return the zone inside a `Zone` argument.
fn zone_argument(zone: &Bound<'_, PyAny>) -> PyResult<tz::Zone> {
    match zone.cast::<PyZone>() {
        Ok(zone) => Ok(zone.get().zone.clone()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "zone must be a Zone, got {}",
            zone.get_type().name()?
        ))),
    }
}

/// Return an instant argument of `next` or `upcoming` as `i64`.
///
/// Instants past the datetime range give the same results as the range's
/// ends, so an int beyond `i64` saturates instead of raising.
fn after_argument(after_us: &Bound<'_, PyAny>) -> PyResult<i64> {
    saturating_int(after_us, "after_us")
}

/// Return the `count` argument of `upcoming`.
fn count_argument(count: &Bound<'_, PyAny>) -> PyResult<usize> {
    let value = saturating_int(count, "count")?;
    usize::try_from(value)
        .map_err(|_| PyValueError::new_err(format!("invalid count {count}: expected 0 or more")))
}

/// Return the minutes of the day of a `DailySpec`; any iterable of ints.
fn minutes_argument(minutes: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    let mut values = Vec::new();
    for minute in minutes.try_iter()? {
        let minute = minute?;
        if !is_exact_int(&minute) {
            return Err(PyTypeError::new_err(format!(
                "minutes must contain ints, got {}",
                minute.repr()?
            )));
        }
        match minute.extract::<i64>() {
            Ok(value) if (0..daily::MINUTES_PER_DAY).contains(&value) => values.push(value),
            _ => return Err(PyValueError::new_err(daily::invalid_minute(&minute))),
        }
    }
    Ok(values)
}

/// Return a bit mask argument as `u64`, raising `ValueError` with the mask in
/// hex when it is negative or too wide for bits `low..=high`. The spec checks
/// the exact bits of a mask that fits.
fn mask_argument(value: &Bound<'_, PyAny>, name: &str, low: u32, high: u32) -> PyResult<u64> {
    if !is_exact_int(value) {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int bit mask, got {}",
            value.repr()?
        )));
    }
    value.extract::<u64>().or_else(|_| {
        let hex = value.call_method1("__format__", ("#x",))?;
        Err(PyValueError::new_err(schedule::invalid_mask(
            name,
            &hex.to_string(),
            low,
            high,
        )))
    })
}

/// Return an int argument (not a bool), saturated to the `i64` range.
fn saturating_int(value: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    if !is_exact_int(value) {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, got {}",
            value.repr()?
        )));
    }
    match value.extract::<i64>() {
        Ok(value) => Ok(value),
        Err(_) if value.gt(0)? => Ok(i64::MAX),
        Err(_) => Ok(i64::MIN),
    }
}

/// Return whether `value` is an `int` and not a `bool`, as the pure backend
/// checks arguments.
fn is_exact_int(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(interval_next, m)?)?;
    m.add_class::<PyZone>()?;
    m.add_class::<PyIntervalSpec>()?;
    m.add_class::<PyDailySpec>()?;
    m.add_class::<PyCronSpec>()?;
    m.add_class::<PyMultiSpec>()?;
    m.add("MIN_US", schedule::MIN_US)?;
    m.add("MAX_US", schedule::MAX_US)?;
    file_store::register(m)?;
    Ok(())
}
