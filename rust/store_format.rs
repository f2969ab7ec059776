//! Bytes of the `FileStore` files: encoding, strict decoding, record checks
//! and salvage.
//!
//! This is the native twin of `millpond._pure.store_format`, which defines the
//! format: the same records give the same bytes, and the same damage gives
//! the same reason and line. Damage is checked in this order, and the first
//! problem found is reported: invalid UTF-8, invalid JSON (syntax, nesting,
//! escaped lone surrogates), a duplicate key, then a wrong shape.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::ser::PrettyFormatter;

use crate::store_json::{read_document, Problem, Value, MAX_DEPTH};

/// The fields of a record, in the order they are checked.
pub const FIELDS: [&str; 8] = [
    "id",
    "pipeline_name",
    "job_id",
    "status",
    "started_at",
    "ended_at",
    "error",
    "scheduled_for",
];

/// Indices into [`FIELDS`] in the order of the names, the order of the files.
const SORTED_FIELDS: [usize; 8] = [5, 6, 0, 2, 1, 7, 4, 3];

/// Positions in [`FIELDS`].
pub const ID: usize = 0;
pub const PIPELINE_NAME: usize = 1;
pub const STATUS: usize = 3;
pub const STARTED_AT: usize = 4;
pub const ENDED_AT: usize = 5;
pub const SCHEDULED_FOR: usize = 7;

const STATUSES: [&str; 4] = ["running", "succeeded", "failed", "canceled"];
const VERSION: &str = "1";
const QUOTE_LIMIT: usize = 40;

/// Nesting limit when salvaging, where the pure backend's decoder is bounded
/// only by Python's recursion limit.
// NOTE: Python's limit depends on the caller's stack depth (about 1,000
// frames in all), so a salvaged file nested between 512 and about 1,000
// levels deep may be read differently by the two backends.
const SALVAGE_MAX_DEPTH: usize = 512;

/// One run: its eight fields in [`FIELDS`] order, each a string or null.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub fields: [Option<String>; 8],
}

impl Record {
    /// Return the record's id. A valid record always has one.
    #[must_use]
    pub fn id(&self) -> &str {
        self.fields[ID].as_deref().unwrap_or("")
    }

    /// Return the field at `index` of [`FIELDS`], with null as `None`.
    #[must_use]
    pub fn field(&self, index: usize) -> Option<&str> {
        self.fields[index].as_deref()
    }

    /// Return the fields as borrowed text, for encoding.
    #[must_use]
    pub fn borrowed(&self) -> RecordRef<'_> {
        RecordRef {
            fields: std::array::from_fn(|index| self.field(index)),
        }
    }
}

/// A record's fields as borrowed text, in [`FIELDS`] order.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    pub fields: [Option<&'a str>; 8],
}

impl Serialize for RecordRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(FIELDS.len()))?;
        for index in SORTED_FIELDS {
            map.serialize_entry(FIELDS[index], &self.fields[index])?;
        }
        map.end()
    }
}

/// The state of one field of a record being checked.
#[derive(Clone, Copy, Debug)]
pub enum FieldState<'a> {
    Missing,
    Null,
    Text(&'a str),
    /// A Python str with a lone surrogate, which UTF-8 cannot encode.
    LoneSurrogate,
    /// Any other value.
    Other,
}

// --- Record checks ----------------------------------------------------------

/// Return whether `text` is empty or only Unicode `White_Space` characters.
#[must_use]
pub fn is_blank(text: &str) -> bool {
    text.chars().all(char::is_whitespace)
}

/// Return whether `text` is a valid `YYYY-MM-DDTHH:MM:SS.ffffffZ` time in years
/// 1 to 9999.
#[must_use]
pub fn is_utc_time(text: &str) -> bool {
    // The layout: ASCII digits at every position but the separators.
    let bytes = text.as_bytes();
    if bytes.len() != 27 {
        return false;
    }
    for (index, &byte) in bytes.iter().enumerate() {
        let expected = match index {
            4 | 7 => b'-',
            10 => b'T',
            13 | 16 => b':',
            19 => b'.',
            26 => b'Z',
            _ => {
                if !byte.is_ascii_digit() {
                    return false;
                }
                continue;
            }
        };
        if byte != expected {
            return false;
        }
    }

    // The ranges of each part, then the length of the month.
    let number = |start: usize, end: usize| {
        bytes[start..end]
            .iter()
            .fold(0_u32, |total, byte| total * 10 + u32::from(byte - b'0'))
    };
    let (year, month, day) = (number(0, 4), number(5, 7), number(8, 10));
    let in_range = year >= 1
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && number(11, 13) <= 23
        && number(14, 16) <= 59
        && number(17, 19) <= 59;
    in_range && day <= days_in_month(year, month)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Return `text` as a JSON string for a message, cut to its first 40
/// characters followed by `...`.
#[must_use]
pub fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => {
            escape_into(&mut quoted, &text[..cut]);
            quoted.push_str("...");
        }
        None => escape_into(&mut quoted, text),
    }
    quoted.push('"');
    quoted
}

/// Append `text` with the escapes of Python's `json.dumps(ensure_ascii=False)`.
fn escape_into(out: &mut String, text: &str) {
    for char in text.chars() {
        match char {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\0'..='\u{1f}' => {
                // Writing to a String cannot fail.
                write!(out, "\\u{:04x}", u32::from(char)).expect("write to a String");
            }
            _ => out.push(char),
        }
    }
}

/// Return what makes a record with these fields invalid, or `None`.
///
/// `fields` are in [`FIELDS`] order, and `extra_key` returns the smallest key
/// that is not a field, if any. Fields are checked in order.
pub fn record_problem(
    fields: &[FieldState<'_>; 8],
    extra_key: impl FnOnce() -> Option<String>,
) -> Option<String> {
    // Presence of every field, then no other key.
    for (name, state) in FIELDS.iter().zip(fields) {
        if matches!(state, FieldState::Missing) {
            return Some(format!("missing field \"{name}\""));
        }
    }
    if let Some(extra) = extra_key() {
        return Some(format!("unexpected field {}", quote(&extra)));
    }

    // Each value in turn.
    for (index, state) in fields.iter().enumerate() {
        let name = FIELDS[index];
        let problem = match *state {
            FieldState::Null if index <= STARTED_AT => {
                Some(format!("field \"{name}\" must be a string, not null"))
            }
            FieldState::Missing | FieldState::Null => None,
            FieldState::Other => Some(format!("field \"{name}\" must be a string or null")),
            FieldState::LoneSurrogate => {
                Some(format!("field \"{name}\" contains a lone surrogate"))
            }
            FieldState::Text(text) => text_problem(index, text),
        };
        if problem.is_some() {
            return problem;
        }
    }
    None
}

fn text_problem(index: usize, text: &str) -> Option<String> {
    let name = FIELDS[index];
    if index <= 2 && is_blank(text) {
        return Some(format!("field \"{name}\" must not be blank"));
    }
    if index == STATUS && !STATUSES.contains(&text) {
        return Some(format!(
            "field \"status\" must be \"running\", \"succeeded\", \"failed\" or \"canceled\", not {}",
            quote(text)
        ));
    }
    if matches!(index, 4 | 5 | 7) && !is_utc_time(text) {
        return Some(format!(
            "field \"{name}\" must be a UTC time like \"2024-01-01T02:00:00.000000Z\", not {}",
            quote(text)
        ));
    }
    None
}

/// Return the index of `name` in [`FIELDS`].
#[must_use]
pub fn field_index(name: &str) -> Option<usize> {
    FIELDS.iter().position(|field| *field == name)
}

/// Return what makes a decoded value an invalid record, or `None`.
fn value_problem(value: &Value) -> Option<String> {
    let Value::Object(members) = value else {
        return Some("not a JSON object".to_owned());
    };
    let mut fields = [FieldState::Missing; 8];
    let mut extra: Option<&str> = None;
    for (key, member) in members {
        match field_index(key) {
            Some(index) => {
                fields[index] = match member {
                    Value::Null => FieldState::Null,
                    Value::String(text) => FieldState::Text(text),
                    _ => FieldState::Other,
                };
            }
            None if extra.is_none_or(|smallest| key.as_str() < smallest) => extra = Some(key),
            None => {}
        }
    }
    record_problem(&fields, || extra.map(str::to_owned))
}

/// Move the fields of a value that [`value_problem`] accepted into a record.
fn record_from_value(value: Value) -> Record {
    let mut fields: [Option<String>; 8] = Default::default();
    if let Value::Object(members) = value {
        for (key, member) in members {
            if let (Some(index), Value::String(text)) = (field_index(&key), member) {
                fields[index] = Some(text);
            }
        }
    }
    Record { fields }
}

// --- Encoding ---------------------------------------------------------------

/// Encode one journal line: compact JSON, keys sorted, UTF-8, then a newline.
#[must_use]
pub(crate) fn encode_journal_line(record: RecordRef<'_>) -> Vec<u8> {
    let mut line = Vec::with_capacity(256);
    // Serializing plain strings into a Vec cannot fail.
    serde_json::to_writer(&mut line, &record).expect("serialize to a Vec");
    line.push(b'\n');
    line
}

struct SnapshotDocument<'a> {
    runs: &'a [&'a Record],
}

struct SortedRuns<'a>(&'a [&'a Record]);

impl Serialize for SortedRuns<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for record in self.0 {
            map.serialize_entry(record.id(), &record.borrowed())?;
        }
        map.end()
    }
}

impl Serialize for SnapshotDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("runs", &SortedRuns(self.runs))?;
        map.serialize_entry("version", &1)?;
        map.end()
    }
}

/// Encode a snapshot: JSON with a two-space indent, keys sorted by code
/// point, UTF-8, and a final newline.
///
/// The bytes equal Python's `json.dumps({"runs": runs, "version": 1},
/// indent=2, sort_keys=True, ensure_ascii=False) + "\n"`.
pub(crate) fn encode_snapshot<'a>(runs: impl IntoIterator<Item = &'a Record>) -> Vec<u8> {
    // Byte order of UTF-8 is code point order.
    let mut sorted: Vec<&Record> = runs.into_iter().collect();
    sorted.sort_unstable_by(|a, b| a.id().cmp(b.id()));

    let mut out = Vec::with_capacity(64 + sorted.len() * 400);
    let formatter = PrettyFormatter::with_indent(b"  ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    let document = SnapshotDocument { runs: &sorted };
    // Serializing plain strings into a Vec cannot fail.
    document
        .serialize(&mut serializer)
        .expect("serialize to a Vec");
    out.push(b'\n');
    out
}

// --- Decoding ---------------------------------------------------------------

/// What is wrong with a store file or journal line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DamageKind {
    Utf8,
    Syntax,
    /// The text ends too early.
    End,
    Depth,
    Duplicate(String),
    Shape(String),
}

/// Damage found while decoding. `line` is 1-based, set for snapshot damage
/// that has a position (invalid UTF-8 or JSON) and `None` otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub kind: DamageKind,
    pub line: Option<usize>,
}

impl Damage {
    fn shape(detail: &str) -> Damage {
        Damage {
            kind: DamageKind::Shape(detail.to_owned()),
            line: None,
        }
    }

    /// Return the reason for a message. `unit`, "file" or "line", is what
    /// ended too early.
    #[must_use]
    pub fn reason(&self, unit: &str) -> String {
        match &self.kind {
            DamageKind::Utf8 => "invalid UTF-8".to_owned(),
            DamageKind::Syntax => "invalid JSON".to_owned(),
            DamageKind::End => format!("invalid JSON: unexpected end of {unit}"),
            DamageKind::Depth => format!("invalid JSON: nested deeper than {MAX_DEPTH} levels"),
            DamageKind::Duplicate(key) => format!("duplicate key {}", quote(key)),
            DamageKind::Shape(detail) => detail.clone(),
        }
    }
}

/// Decode one JSON document strictly; `text` gives the line of a position.
fn decode_document(text: &str) -> Result<Value, Damage> {
    read_document(text, MAX_DEPTH).map_err(|problem| {
        let (kind, offset) = match problem {
            Problem::Syntax(offset) => (DamageKind::Syntax, Some(offset)),
            Problem::End(offset) => (DamageKind::End, Some(offset)),
            Problem::Depth(offset) => (DamageKind::Depth, Some(offset)),
            Problem::Duplicate(key) => (DamageKind::Duplicate(key), None),
        };
        Damage {
            kind,
            line: offset.map(|offset| line_of(text.as_bytes(), offset)),
        }
    })
}

fn line_of(data: &[u8], offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &data[..offset]).count() + 1
}

/// Decode one journal line (without its newline) into a valid record.
///
/// # Errors
///
/// Returns the damage, with `line` unset: the caller knows the line number.
pub fn decode_journal_line(line: &[u8]) -> Result<Record, Damage> {
    if line.is_empty() {
        return Err(Damage::shape("empty line"));
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Err(Damage {
            kind: DamageKind::Utf8,
            line: None,
        });
    };
    let value = decode_document(text).map_err(|damage| Damage {
        line: None,
        ..damage
    })?;
    if let Some(problem) = value_problem(&value) {
        return Err(Damage::shape(&problem));
    }
    Ok(record_from_value(value))
}

/// Decode a whole snapshot file into its runs by id.
///
/// # Errors
///
/// Returns the first damage in the documented order.
pub fn decode_snapshot(data: &[u8]) -> Result<HashMap<String, Record>, Damage> {
    // Bytes, then syntax.
    if data.is_empty() {
        return Err(Damage::shape("empty file"));
    }
    let text = std::str::from_utf8(data).map_err(|error| Damage {
        kind: DamageKind::Utf8,
        line: Some(line_of(data, error.valid_up_to())),
    })?;
    let document = decode_document(text)?;

    // Shape: the top level, then the runs.
    let runs = snapshot_runs(document).map_err(|problem| Damage::shape(&problem))?;
    if let Some(problem) = runs_problem(&runs) {
        return Err(Damage::shape(&problem));
    }
    Ok(runs
        .into_iter()
        .map(|(run_id, record)| (run_id, record_from_value(record)))
        .collect())
}

/// Return the members of the `"runs"` object of a snapshot document, or what
/// is wrong with the top level.
fn snapshot_runs(document: Value) -> Result<Vec<(String, Value)>, String> {
    let Value::Object(members) = document else {
        return Err("the top level is not a JSON object".to_owned());
    };
    match Value::member(&members, "version") {
        None => return Err("missing key \"version\"".to_owned()),
        Some(Value::Number(text)) if text == VERSION => {}
        Some(version) => {
            return Err(format!(
                "unsupported version {}: expected {VERSION}",
                describe(version)
            ))
        }
    }
    let extra = members
        .iter()
        .map(|(key, _)| key.as_str())
        .filter(|key| *key != "runs" && *key != "version")
        .min();
    if let Some(extra) = extra {
        return Err(format!("unexpected key {}", quote(extra)));
    }
    let runs = members.into_iter().find(|(key, _)| key == "runs");
    match runs {
        None => Err("missing key \"runs\"".to_owned()),
        Some((_, Value::Object(runs))) => Ok(runs),
        Some(_) => Err("\"runs\" is not a JSON object".to_owned()),
    }
}

/// Return the problem of the smallest run id that has one, so that the order
/// of the file does not change which problem is named.
fn runs_problem(runs: &[(String, Value)]) -> Option<String> {
    let mut first_bad: Option<(&str, String)> = None;
    for (run_id, record) in runs {
        if first_bad
            .as_ref()
            .is_some_and(|(bad_id, _)| run_id.as_str() >= *bad_id)
        {
            continue;
        }
        let problem = value_problem(record).or_else(|| {
            let Value::Object(members) = record else {
                return None;
            };
            match Value::member(members, "id") {
                Some(Value::String(id)) if id != run_id => Some(format!(
                    "field \"id\" is {}, not the key of the run",
                    quote(id)
                )),
                _ => None,
            }
        });
        if let Some(problem) = problem {
            first_bad = Some((run_id, problem));
        }
    }
    first_bad.map(|(run_id, problem)| format!("run {}: {problem}", quote(run_id)))
}

/// Describe a value for a message: numbers as written, strings quoted.
fn describe(value: &Value) -> String {
    match value {
        Value::Number(text) => match text.char_indices().nth(QUOTE_LIMIT) {
            Some((cut, _)) => format!("{}...", &text[..cut]),
            None => text.clone(),
        },
        Value::String(text) => quote(text),
        Value::Null => "null".to_owned(),
        Value::Bool(true) => "true".to_owned(),
        Value::Bool(false) => "false".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        Value::Array(_) => "an array".to_owned(),
    }
}

// --- Salvage ----------------------------------------------------------------

const BLOCK_START_PREFIX: &[u8] = b"    \"";
const BLOCK_START_SUFFIX: &[u8] = b"\": {";

/// Return every valid record that can be read from a damaged snapshot.
///
/// When the file is valid JSON with a "runs" object, each valid record in it
/// is kept, whatever the version. Otherwise the file is read as the layout
/// [`encode_snapshot`] writes, in which a record is the lines from
/// `    "<id>": {` to the next `    }` or `    },`. Each such block that
/// decodes on its own to a valid record under its own id is kept, the last
/// one winning.
#[must_use]
pub fn salvage_snapshot(data: &[u8]) -> HashMap<String, Record> {
    let document = std::str::from_utf8(data)
        .ok()
        .and_then(|text| read_document(text, SALVAGE_MAX_DEPTH).ok());
    let Some(Value::Object(members)) = document else {
        return salvage_blocks(data);
    };
    let Some((_, Value::Object(runs))) = members.into_iter().find(|(key, _)| key == "runs") else {
        return salvage_blocks(data);
    };
    runs.into_iter()
        .filter_map(|(run_id, record)| valid_under_id(&run_id, record).map(|r| (run_id, r)))
        .collect()
}

/// Return the record if `value` is a valid record whose id is `run_id`.
fn valid_under_id(run_id: &str, value: Value) -> Option<Record> {
    if value_problem(&value).is_some() {
        return None;
    }
    let record = record_from_value(value);
    (record.id() == run_id).then_some(record)
}

fn salvage_blocks(data: &[u8]) -> HashMap<String, Record> {
    let mut runs = HashMap::new();
    let mut block: Option<Vec<&[u8]>> = None;
    for line in data.split(|&byte| byte == b'\n') {
        let is_start = line.starts_with(BLOCK_START_PREFIX)
            && line.ends_with(BLOCK_START_SUFFIX)
            && line.len() >= BLOCK_START_PREFIX.len() + BLOCK_START_SUFFIX.len();
        if is_start {
            block = Some(vec![line]);
        } else if let Some(lines) = block.as_mut() {
            if line == b"    }" || line == b"    }," {
                lines.push(b"    }");
                let mut text = b"{".to_vec();
                text.extend_from_slice(&lines.join(&b'\n'));
                text.push(b'}');
                keep_block(&text, &mut runs);
                block = None;
            } else {
                lines.push(line);
            }
        }
    }
    runs
}

fn keep_block(text: &[u8], runs: &mut HashMap<String, Record>) {
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(Value::Object(mut members)) = read_document(text, SALVAGE_MAX_DEPTH) else {
        return;
    };
    if members.len() != 1 {
        return;
    }
    // The length was checked just above.
    let (run_id, record) = members.pop().expect("one member");
    if let Some(record) = valid_under_id(&run_id, record) {
        runs.insert(run_id, record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, error: Option<&str>) -> Record {
        let text = |value: &str| Some(value.to_owned());
        Record {
            fields: [
                text(id),
                text("orders"),
                text("job-a"),
                text("succeeded"),
                text("2024-01-01T02:00:00.000000Z"),
                text("2024-01-01T02:00:01.500000Z"),
                error.map(str::to_owned),
                None,
            ],
        }
    }

    const ODD_ERROR: &str =
        "é\u{0}\u{1}\u{1f}\u{7f}\u{2028}\u{2029} \"q\" \\ /\u{8}\u{c}\r\t\n\u{1f600}";

    #[test]
    fn snapshot_bytes() {
        let runs = [record("run-2", Some(ODD_ERROR)), record("ünï-✓", None)];
        let expected = concat!(
            "{\n",
            "  \"runs\": {\n",
            "    \"run-2\": {\n",
            "      \"ended_at\": \"2024-01-01T02:00:01.500000Z\",\n",
            "      \"error\": \"é\\u0000\\u0001\\u001f\u{7f}\u{2028}\u{2029} \\\"q\\\" \\\\ /",
            "\\b\\f\\r\\t\\n\u{1f600}\",\n",
            "      \"id\": \"run-2\",\n",
            "      \"job_id\": \"job-a\",\n",
            "      \"pipeline_name\": \"orders\",\n",
            "      \"scheduled_for\": null,\n",
            "      \"started_at\": \"2024-01-01T02:00:00.000000Z\",\n",
            "      \"status\": \"succeeded\"\n",
            "    },\n",
            "    \"ünï-✓\": {\n",
            "      \"ended_at\": \"2024-01-01T02:00:01.500000Z\",\n",
            "      \"error\": null,\n",
            "      \"id\": \"ünï-✓\",\n",
            "      \"job_id\": \"job-a\",\n",
            "      \"pipeline_name\": \"orders\",\n",
            "      \"scheduled_for\": null,\n",
            "      \"started_at\": \"2024-01-01T02:00:00.000000Z\",\n",
            "      \"status\": \"succeeded\"\n",
            "    }\n",
            "  },\n",
            "  \"version\": 1\n",
            "}\n",
        );
        // Given in reverse id order, so the encoder must sort.
        let encoded = encode_snapshot([&runs[1], &runs[0]]);
        assert_eq!(String::from_utf8(encoded).unwrap(), expected);
        let empty = encode_snapshot([]);
        assert_eq!(empty, b"{\n  \"runs\": {},\n  \"version\": 1\n}\n");
    }

    #[test]
    fn journal_line_bytes() {
        let line = encode_journal_line(record("run-1", Some("a\"\u{7}\u{2028}")).borrowed());
        let expected = concat!(
            "{\"ended_at\":\"2024-01-01T02:00:01.500000Z\",\"error\":\"a\\\"\\u0007\u{2028}\",",
            "\"id\":\"run-1\",\"job_id\":\"job-a\",\"pipeline_name\":\"orders\",",
            "\"scheduled_for\":null,\"started_at\":\"2024-01-01T02:00:00.000000Z\",",
            "\"status\":\"succeeded\"}\n",
        );
        assert_eq!(String::from_utf8(line).unwrap(), expected);
    }

    #[test]
    fn round_trip_and_quote() {
        let original = record("x", Some(ODD_ERROR));
        let line = encode_journal_line(original.borrowed());
        assert_eq!(decode_journal_line(&line[..line.len() - 1]), Ok(original));
        assert_eq!(quote("a\"\u{1}"), "\"a\\\"\\u0001\"");
        assert_eq!(quote(&"é".repeat(41)), format!("\"{}...\"", "é".repeat(40)));
    }

    fn journal_reason(line: &[u8]) -> String {
        decode_journal_line(line).unwrap_err().reason("line")
    }

    #[test]
    fn journal_damage_in_order() {
        let valid = encode_journal_line(record("run-1", None).borrowed());
        let valid = &valid[..valid.len() - 1];
        let replace = |from: &str, to: &str| {
            String::from_utf8(valid.to_vec())
                .unwrap()
                .replace(from, to)
                .into_bytes()
        };
        assert_eq!(journal_reason(b""), "empty line");
        assert_eq!(journal_reason(&[b"\xff", valid].concat()), "invalid UTF-8");
        assert_eq!(
            journal_reason(&valid[..valid.len() - 1]),
            "invalid JSON: unexpected end of line"
        );
        assert_eq!(journal_reason(b"[]"), "not a JSON object");
        assert_eq!(
            journal_reason(b"{\"id\":\"a\",\"id\":\"b\"}"),
            "duplicate key \"id\""
        );
        assert_eq!(
            journal_reason(b"{\"id\":\"a\",\"id\":\"b\", NaN}"),
            "invalid JSON"
        );
        assert_eq!(
            journal_reason(&replace("\"succeeded\"", "\"done\"")),
            "field \"status\" must be \"running\", \"succeeded\", \"failed\" or \"canceled\", not \"done\""
        );
        assert_eq!(
            journal_reason(&replace("\"error\":null", "\"error\":[\"x\"]")),
            "field \"error\" must be a string or null"
        );
        assert_eq!(
            journal_reason(&replace(
                "\"id\":\"run-1\",",
                "\"id\":\"run-1\",\"zz\":1,\"extra\":2,"
            )),
            "unexpected field \"extra\""
        );
    }

    fn snapshot_damage(data: &[u8]) -> (Option<usize>, String) {
        let damage = decode_snapshot(data).unwrap_err();
        (damage.line, damage.reason("file"))
    }

    #[test]
    fn snapshot_damage_names_line() {
        let good = String::from_utf8(encode_snapshot([&record("run-1", None)])).unwrap();
        let cases: Vec<(String, Option<usize>, &str)> = vec![
            (
                good.replace("\"version\": 1", "\"version\": 2"),
                None,
                "unsupported version 2: expected 1",
            ),
            (
                good.replace("\"version\": 1", "\"version\": 1.0"),
                None,
                "unsupported version 1.0: expected 1",
            ),
            (
                good.replace("\"version\": 1", "\"version\": \"1\""),
                None,
                "unsupported version \"1\": expected 1",
            ),
            (
                good.replace("\"version\": 1", "\"version\": NaN"),
                Some(14),
                "invalid JSON",
            ),
            (
                good.replace("\"runs\": {", "\"runs\": {\"run-1\": {}, "),
                None,
                "duplicate key \"run-1\"",
            ),
            (
                good.replace("\"version\"", "\"extra\": 0, \"version\""),
                None,
                "unexpected key \"extra\"",
            ),
            (
                good.replace("\"id\": \"run-1\"", "\"id\": \"run-2\""),
                None,
                "run \"run-1\": field \"id\" is \"run-2\", not the key of the run",
            ),
            (
                good[..good.len() - 3].to_owned(),
                Some(14),
                "invalid JSON: unexpected end of file",
            ),
            ("[]".to_owned(), None, "the top level is not a JSON object"),
            ("{\"version\": 1}".to_owned(), None, "missing key \"runs\""),
            (
                "{\"runs\": [], \"version\": 1}".to_owned(),
                None,
                "\"runs\" is not a JSON object",
            ),
        ];
        for (data, line, reason) in cases {
            assert_eq!(
                snapshot_damage(data.as_bytes()),
                (line, reason.to_owned()),
                "{data}"
            );
        }
        assert_eq!(snapshot_damage(b""), (None, "empty file".to_owned()));
        let bad_utf8 = good.replace("orders", "ord\u{1}ers").replace('\u{1}', "");
        let mut bytes = bad_utf8.into_bytes();
        let at = bytes.windows(3).position(|w| w == b"ord").unwrap() + 3;
        bytes[at] = 0xc3;
        assert_eq!(
            snapshot_damage(&bytes),
            (Some(8), "invalid UTF-8".to_owned())
        );
    }

    #[test]
    fn smallest_bad_run_id_is_named() {
        let mut runs: Vec<Record> = ["run-5", "run-3", "run-9"]
            .iter()
            .map(|id| record(id, None))
            .collect();
        for run in &mut runs {
            run.fields[STATUS] = Some("bad".to_owned());
        }
        let (_, reason) = snapshot_damage(&encode_snapshot(&runs));
        assert!(
            reason.starts_with("run \"run-3\": field \"status\""),
            "{reason}"
        );
    }

    #[test]
    fn time_checks() {
        assert!(is_utc_time("2024-02-29T23:59:59.999999Z"));
        for bad in [
            "2023-02-29T00:00:00.000000Z",
            "0000-01-01T00:00:00.000000Z",
            "2024-04-31T00:00:00.000000Z",
            "2024-01-01T24:00:00.000000Z",
            "2024-01-01T02:00:00Z",
            "\u{ff12}024-01-01T02:00:00.000000Z",
        ] {
            assert!(!is_utc_time(bad), "{bad}");
        }
        assert!(is_blank("\u{3000}\t"));
        assert!(!is_blank("\u{1c}"));
    }

    #[test]
    fn salvage_complete_blocks() {
        let runs: Vec<Record> = (0..4).map(|n| record(&format!("run-{n}"), None)).collect();
        let data = encode_snapshot(&runs);
        let cut = data.windows(7).position(|w| w == b"\"run-3\"").unwrap() + 20;
        let mut kept: Vec<String> = salvage_snapshot(&data[..cut]).into_keys().collect();
        kept.sort();
        assert_eq!(kept, ["run-0", "run-1", "run-2"]);

        let future = String::from_utf8(data)
            .unwrap()
            .replace("\"version\": 1", "\"version\": 7");
        assert_eq!(salvage_snapshot(future.as_bytes()).len(), 4);
        assert!(salvage_snapshot(b"\x00garbage").is_empty());
    }
}
