//! `FileStoreCore`: the Python class over [`crate::store_core::Core`].
//!
//! It converts arguments, records and errors so that it behaves as
//! `millpond._pure.file_store.FileStoreCore` does: the same signature,
//! results, exception classes and messages. File work runs with the
//! interpreter detached, so other Python threads run during I/O and fsync.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyType};

use crate::store_core::{self, Core, Retention, StoreError};
use crate::store_format::{
    encode_journal_line, record_problem, FieldState, Record, RecordRef, ENDED_AT, FIELDS,
    SCHEDULED_FOR, STARTED_AT, STATUS,
};

/// Name of the module that defines the shared `StoreCorruptError`.
const ERRORS_MODULE: &str = "millpond._store_errors";

/// Name of the module that defines `RunRecord`, `RunStatus` and `record_to_fields`.
const RECORDS_MODULE: &str = "millpond.orchestrator._records";

/// The snapshot, journal and lock files of one store, and its runs as last read.
///
/// Calls on one object are serialized by a mutex; the public `FileStore`
/// also serializes them, so the mutex is never contended there.
#[pyclass(frozen, module = "millpond._native", name = "FileStoreCore")]
pub struct FileStoreCore {
    core: Mutex<Core>,
}

/// An invalid argument, found with the interpreter attached and raised after
/// the closed-store check, in the pure backend's order.
#[derive(Clone, Debug)]
enum ArgumentError {
    Type(String),
    Value(String),
}

impl From<ArgumentError> for StoreError {
    fn from(error: ArgumentError) -> StoreError {
        match error {
            ArgumentError::Type(message) => StoreError::Type(message),
            ArgumentError::Value(message) => StoreError::Value(message),
        }
    }
}

#[pymethods]
impl FileStoreCore {
    #[new]
    #[pyo3(signature = (path, *, durable = true, keep_last = None, max_age_us = None))]
    fn new(
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = is_truthy)] durable: bool,
        keep_last: Option<&Bound<'_, PyAny>>,
        max_age_us: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<FileStoreCore> {
        let path = path_argument(path)?;
        let retention = Retention {
            keep_last: optional_count("keep_last", keep_last)?.map(i64::unsigned_abs),
            max_age_us: optional_count("max_age_us", max_age_us)?,
        };
        let core = detached(py, || Core::open(&path, durable, retention))?;
        Ok(FileStoreCore {
            core: Mutex::new(core),
        })
    }

    fn upsert(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<u64> {
        let line = journal_line(record);
        self.run(py, |core| {
            core.check_usable()?;
            let line = line.as_ref().map_err(Clone::clone)?;
            core.upsert(line)
        })
    }

    /// Append a `RunRecord` and return the journal's data length after it.
    ///
    /// The pure core runs `upsert(record_to_fields(record))`. Here the
    /// attributes are read and the times formatted without that call, when
    /// every attribute has the type that the `RunRecord` constructor gives
    /// it. Any other object goes through `record_to_fields` too, so both
    /// cores raise the same errors for it.
    fn upsert_record(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<u64> {
        let line = if let Some(line) = run_record_line(record)? {
            line
        } else {
            let convert = records_module(py)?.getattr("record_to_fields")?;
            journal_line(&convert.call1((record,))?)
        };
        self.run(py, |core| {
            core.check_usable()?;
            let line = line.as_ref().map_err(Clone::clone)?;
            core.upsert(line)
        })
    }

    fn get<'py>(
        &self,
        py: Python<'py>,
        run_id: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        // An id with a lone surrogate cannot be stored, so it matches nothing.
        let run_id = match run_id.cast::<PyString>() {
            Ok(text) => Ok(text.to_str().ok().map(str::to_owned)),
            Err(_) => Err(ArgumentError::Type(format!(
                "run_id must be a str, not {}",
                type_name(run_id)?
            ))),
        };
        let record = self.run(py, |core| {
            core.check_usable()?;
            let run_id = run_id.as_ref().map_err(Clone::clone)?;
            // A blank id is never stored, so "" reads the store and finds nothing.
            core.get(run_id.as_deref().unwrap_or(""))
        })?;
        record.map(|record| record_dict(py, &record)).transpose()
    }

    fn records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let records = self.run(py, |core| {
            core.check_usable()?;
            core.records()
        })?;
        let list = PyList::empty(py);
        for record in &records {
            list.append(record_dict(py, record)?)?;
        }
        Ok(list)
    }

    #[pyo3(signature = (*, min_journal_bytes = Ok(0)), text_signature = "($self, *, min_journal_bytes=0)")]
    fn compact(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = byte_threshold)] min_journal_bytes: Result<i64, ArgumentError>,
    ) -> PyResult<bool> {
        self.run(py, |core| {
            core.check_usable()?;
            core.compact(min_journal_bytes.clone()?)
        })
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        loop {
            let result = py.detach(|| lock(&self.core).close());
            let Err(StoreError::Interrupted) = result else {
                return result.map_err(|error| to_python_error(py, error));
            };
            // A signal handler that raises ends the close, as in the pure core.
            if let Err(error) = py.check_signals() {
                py.detach(|| lock(&self.core).release());
                return Err(error);
            }
        }
    }

    #[staticmethod]
    fn repair<'py>(py: Python<'py>, path: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let path = path_argument(path)?;
        let report = detached(py, || store_core::repair(&path))?;
        let result = PyDict::new(py);
        result.set_item("kept", report.kept)?;
        result.set_item("dropped_lines", report.dropped_lines)?;
        result.set_item("moved", PyList::new(py, &report.moved)?)?;
        Ok(result)
    }
}

impl FileStoreCore {
    /// Run `operation` on the core with the interpreter detached.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        operation: impl Fn(&mut Core) -> store_core::Result<T> + Sync,
    ) -> PyResult<T> {
        detached(py, || operation(&mut lock(&self.core)))
    }
}

/// Lock the core. The core panics only where an invariant fails (each
/// `expect` explains why it cannot), so a poisoned mutex is used as it is.
fn lock(core: &Mutex<Core>) -> MutexGuard<'_, Core> {
    core.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Run `operation` with the interpreter detached, running Python's signal
/// handlers and retrying when a signal interrupts the wait for a lock.
fn detached<T: Send>(
    py: Python<'_>,
    operation: impl Fn() -> store_core::Result<T> + Sync,
) -> PyResult<T> {
    loop {
        match py.detach(&operation) {
            Err(StoreError::Interrupted) => py.check_signals()?,
            result => return result.map_err(|error| to_python_error(py, error)),
        }
    }
}

// --- Arguments -------------------------------------------------------------

fn is_truthy(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    value.is_truthy()
}

fn type_name(value: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(value.get_type().name()?.to_string())
}

/// Return a path argument, which must be a str without NUL characters, as
/// the bytes that `os.fsencode` gives: a file name that is not UTF-8 comes
/// as a str with surrogate escapes, as `os.fsdecode` makes it.
fn path_argument(path: &Bound<'_, PyAny>) -> PyResult<OsString> {
    if !path.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "path must be a str, not {}",
            type_name(path)?
        )));
    }
    let path: OsString = path.extract()?;
    if path.as_bytes().contains(&0) {
        return Err(PyValueError::new_err("embedded null byte"));
    }
    Ok(path)
}

/// Return an optional count of at least 1, saturated to the `i64` range.
fn optional_count(name: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<i64>> {
    let Some(value) = value else {
        return Ok(None);
    };
    if !value.is_instance_of::<PyInt>() || value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int or None, not {}",
            type_name(value)?
        )));
    }
    if value.lt(1)? {
        return Err(PyValueError::new_err(format!(
            "{name} must be at least 1, got {}",
            value.str()?
        )));
    }
    Ok(Some(value.extract::<i64>().unwrap_or(i64::MAX)))
}

/// Return the journal size threshold of `compact` as an `i64`.
///
/// The pure core compares the size with `<`, so any int or float works: a
/// float rounds up (sizes are whole), NaN compares false (always compact),
/// and values past the `i64` range saturate. Another type is an error
/// raised after the closed-store check.
fn byte_threshold(value: &Bound<'_, PyAny>) -> PyResult<Result<i64, ArgumentError>> {
    if value.is_instance_of::<PyInt>() {
        let saturated = value.extract::<i64>().or_else(|_| {
            if value.gt(0)? {
                Ok::<_, PyErr>(i64::MAX)
            } else {
                Ok(i64::MIN)
            }
        })?;
        return Ok(Ok(saturated));
    }
    if let Ok(number) = value.cast::<PyFloat>() {
        let number = number.value().ceil();
        // `as` saturates at the i64 range. It would turn NaN into 0, so NaN is mapped first.
        return Ok(Ok(if number.is_nan() {
            i64::MIN
        } else {
            number as i64
        }));
    }
    Ok(Err(ArgumentError::Type(format!(
        "'<' not supported between instances of 'int' and '{}'",
        type_name(value)?
    ))))
}

/// Check a record dict and encode its journal line.
fn journal_line(record: &Bound<'_, PyAny>) -> Result<Vec<u8>, ArgumentError> {
    let Ok(record) = record.cast::<PyDict>() else {
        return Err(ArgumentError::Type(format!(
            "record must be a dict, not {}",
            type_name(record).unwrap_or_default()
        )));
    };

    // Look up each field; the text borrows from the values kept here.
    let py = record.py();
    let keys = field_keys(py);
    let mut values = Vec::with_capacity(FIELDS.len());
    for key in keys {
        let value = record
            .get_item(key.bind(py))
            .map_err(|error| ArgumentError::Value(error.to_string()))?;
        values.push(value);
    }
    let fields: [FieldState<'_>; 8] = std::array::from_fn(|index| match &values[index] {
        None => FieldState::Missing,
        Some(value) => field_state(value),
    });

    // Any key besides the fields; only str keys can be named in a message.
    let all_present = !fields
        .iter()
        .any(|state| matches!(state, FieldState::Missing));
    let mut extra = None;
    if all_present && record.len() != FIELDS.len() {
        for key in record.keys() {
            let Ok(key) = key.cast::<PyString>() else {
                return Err(ArgumentError::Type(format!(
                    "invalid run record: keys must be str, not {}",
                    type_name(&key).unwrap_or_default()
                )));
            };
            let key = key.to_string();
            let is_field = FIELDS.contains(&key.as_str());
            if !is_field && extra.as_ref().is_none_or(|smallest| key < *smallest) {
                extra = Some(key);
            }
        }
    }
    encode_checked(&fields, || extra)
}

/// The types that a `RunRecord` made by its constructor holds.
struct RecordTypes {
    run_record: Py<PyType>,
    run_status: Py<PyType>,
    datetime: Py<PyType>,
}

fn records_module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import(RECORDS_MODULE)
}

fn record_types(py: Python<'_>) -> PyResult<&RecordTypes> {
    static TYPES: PyOnceLock<RecordTypes> = PyOnceLock::new();
    TYPES.get_or_try_init(py, || {
        let module = records_module(py)?;
        let class = |name: &str| -> PyResult<Py<PyType>> {
            Ok(module.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        Ok(RecordTypes {
            run_record: class("RunRecord")?,
            run_status: class("RunStatus")?,
            datetime: py
                .import("datetime")?
                .getattr("datetime")?
                .cast_into::<PyType>()?
                .unbind(),
        })
    })
}

/// Check and encode the journal line of a `RunRecord` whose attributes have
/// the types its constructor gives them, or return `None` for any other
/// object.
fn run_record_line(record: &Bound<'_, PyAny>) -> PyResult<Option<Result<Vec<u8>, ArgumentError>>> {
    let py = record.py();
    let types = record_types(py)?;
    if !record.get_type().is(types.run_record.bind(py)) {
        return Ok(None);
    }
    let keys = field_keys(py);
    let mut values = Vec::with_capacity(FIELDS.len());
    for key in keys {
        values.push(record.getattr(key.bind(py))?);
    }

    // The status is a RunStatus member, a str whose text is its value.
    if !values[STATUS].get_type().is(types.run_status.bind(py)) {
        return Ok(None);
    }
    // Times are datetimes, formatted as `record_to_fields` does. Only
    // `started_at` is required.
    let mut times: [Option<String>; 8] = Default::default();
    for index in [STARTED_AT, ENDED_AT, SCHEDULED_FOR] {
        let value = &values[index];
        if value.is_none() && index != STARTED_AT {
            continue;
        }
        if !value.get_type().is(types.datetime.bind(py)) {
            return Ok(None);
        }
        times[index] = Some(format_time(value)?);
    }

    let fields: [FieldState<'_>; 8] = std::array::from_fn(|index| match &times[index] {
        Some(time) => FieldState::Text(time),
        None => field_state(&values[index]),
    });
    Ok(Some(encode_checked(&fields, || None)))
}

/// Format a datetime as `record_to_fields` does: its own fields, whatever
/// its time zone, as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn format_time(time: &Bound<'_, PyAny>) -> PyResult<String> {
    // Plain attribute lookups: under the limited C API, pyo3's datetime
    // accessors call each descriptor from Python, which is slower.
    let mut parts = [0_u32; 7];
    for (part, name) in parts.iter_mut().zip(time_attributes(time.py())) {
        *part = time.getattr(name.bind(time.py()))?.extract()?;
    }
    // `format!` takes about as long as reading the attributes, so the
    // digits are written here. A datetime's parts are in range, and a
    // larger value would show its last digits only.
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    for (part, (start, width)) in parts.iter().zip(TIME_LAYOUT) {
        let mut value = *part;
        for position in (start..start + width).rev() {
            text[position] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    // Only ASCII digits and separators were written.
    Ok(String::from_utf8(text.to_vec()).expect("ASCII"))
}

/// Start and width in `YYYY-MM-DDTHH:MM:SS.ffffffZ` of each part of a time.
const TIME_LAYOUT: [(usize, usize); 7] =
    [(0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2), (20, 6)];

/// Return the interned names of a datetime's parts, largest first.
fn time_attributes(py: Python<'_>) -> &[Py<PyString>; 7] {
    static NAMES: PyOnceLock<[Py<PyString>; 7]> = PyOnceLock::new();
    NAMES.get_or_init(py, || {
        [
            "year",
            "month",
            "day",
            "hour",
            "minute",
            "second",
            "microsecond",
        ]
        .map(|name| PyString::intern(py, name).unbind())
    })
}

/// Return the state of a field value that is present.
fn field_state<'a>(value: &'a Bound<'_, PyAny>) -> FieldState<'a> {
    if value.is_none() {
        return FieldState::Null;
    }
    match value.cast::<PyString>() {
        Ok(text) => text
            .to_str()
            .map_or(FieldState::LoneSurrogate, FieldState::Text),
        Err(_) => FieldState::Other,
    }
}

/// Check a record's fields and encode its journal line.
fn encode_checked(
    fields: &[FieldState<'_>; 8],
    extra_key: impl FnOnce() -> Option<String>,
) -> Result<Vec<u8>, ArgumentError> {
    if let Some(problem) = record_problem(fields, extra_key) {
        return Err(ArgumentError::Value(format!(
            "invalid run record: {problem}"
        )));
    }
    let record = RecordRef {
        fields: fields.map(|state| match state {
            FieldState::Text(text) => Some(text),
            _ => None,
        }),
    };
    Ok(encode_journal_line(record))
}

/// Return the interned field names, in `FIELDS` order.
fn field_keys(py: Python<'_>) -> &[Py<PyString>; 8] {
    static KEYS: PyOnceLock<[Py<PyString>; 8]> = PyOnceLock::new();
    KEYS.get_or_init(py, || {
        FIELDS.map(|name| PyString::intern(py, name).unbind())
    })
}

/// Return a record as a new dict of its eight fields.
fn record_dict<'py>(py: Python<'py>, record: &Record) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (index, key) in field_keys(py).iter().enumerate() {
        dict.set_item(key.bind(py), record.field(index))?;
    }
    Ok(dict)
}

// --- Errors -----------------------------------------------------------------

/// Turn a store error into the exception the pure backend raises.
fn to_python_error(py: Python<'_>, error: StoreError) -> PyErr {
    python_error(py, error).unwrap_or_else(|failure| failure)
}

fn python_error(py: Python<'_>, error: StoreError) -> PyResult<PyErr> {
    let error = match error {
        StoreError::Os {
            error,
            filename,
            filename2,
        } => {
            let Some(code) = error.raw_os_error() else {
                return Ok(PyOSError::new_err(error.to_string()));
            };
            // Python's own text for the code, as the pure backend's os calls give.
            let strerror: String = py
                .import("os")?
                .getattr("strerror")?
                .call1((code,))?
                .extract()?;
            match (filename, filename2) {
                (Some(filename), Some(filename2)) => {
                    PyOSError::new_err((code, strerror, filename, py.None(), filename2))
                }
                (Some(filename), None) => PyOSError::new_err((code, strerror, filename)),
                (None, _) => PyOSError::new_err((code, strerror)),
            }
        }
        StoreError::Folder {
            errno,
            strerror,
            filename,
        } => PyOSError::new_err((errno.raw_os_error(), strerror, filename)),
        StoreError::Corrupt {
            path,
            line,
            reason,
            store_path,
        } => {
            let class = py.import(ERRORS_MODULE)?.getattr("StoreCorruptError")?;
            PyErr::from_value(class.call1((path, line, reason, store_path))?)
        }
        StoreError::Closed { path } => {
            let path = path.into_pyobject(py)?.repr()?;
            PyValueError::new_err(format!("the store {path} is closed"))
        }
        StoreError::Interrupted => {
            let code = rustix::io::Errno::INTR.raw_os_error();
            PyOSError::new_err((code, "Interrupted system call"))
        }
        StoreError::Type(message) => PyTypeError::new_err(message),
        StoreError::Value(message) => PyValueError::new_err(message),
    };
    Ok(error)
}

/// Add `FileStoreCore` and the shared `StoreCorruptError` to the module.
///
/// # Errors
///
/// Fails when `millpond._store_errors` cannot be imported.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<FileStoreCore>()?;
    let errors = module.py().import(ERRORS_MODULE)?;
    module.add("StoreCorruptError", errors.getattr("StoreCorruptError")?)?;
    Ok(())
}
