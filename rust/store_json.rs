//! A strict JSON reader for the store files.
//!
//! It accepts RFC 8259 without escaped lone surrogates. It reports the first
//! problem as `millpond._pure.store_format` does: the first character at
//! which the text stops being the start of a valid document, and otherwise
//! the first duplicate key found when objects end. Offsets are byte offsets
//! into the UTF-8 text, so they give the same line numbers as the pure
//! reader's character offsets.

/// A decoded JSON value. Numbers keep their text, because the store reads no
/// number except the version and messages show numbers as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Members in file order; keys are unique once `read_document` returns.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// Return the value of `key` in an object, or `None`.
    #[must_use]
    pub fn member<'a>(members: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
        members
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }
}

/// A problem that makes a document invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The text stops being valid JSON at this byte offset.
    Syntax(usize),
    /// The text ends too early; the offset is its length.
    End(usize),
    /// A container opens inside the maximum number of others, at this offset.
    Depth(usize),
    /// The first duplicate key found when objects end, in the order they end.
    Duplicate(String),
}

/// Nesting limit of the store's strict reading, as in the pure backend.
pub const MAX_DEPTH: usize = 16;

/// Read `text` as one JSON document with at most `max_depth` nested
/// containers.
///
/// # Errors
///
/// Returns the first syntax or depth problem in text order; without one, the
/// first duplicate key.
pub fn read_document(text: &str, max_depth: usize) -> Result<Value, Problem> {
    // Read the value, then require only whitespace after it.
    let mut reader = Reader {
        source: text,
        bytes: text.as_bytes(),
        position: 0,
        max_depth,
        duplicate: None,
    };
    let value = reader.value(0)?;
    reader.skip_whitespace();
    if reader.position < reader.bytes.len() {
        return Err(Problem::Syntax(reader.position));
    }

    // Syntax problems anywhere outrank a duplicate key.
    match reader.duplicate {
        Some(key) => Err(Problem::Duplicate(key)),
        None => Ok(value),
    }
}

struct Reader<'a> {
    source: &'a str,
    bytes: &'a [u8],
    position: usize,
    max_depth: usize,
    duplicate: Option<String>,
}

impl Reader<'_> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.position) {
            self.position += 1;
        }
    }

    /// Return the byte at the position, or an end problem past the end.
    fn current(&self) -> Result<u8, Problem> {
        self.bytes
            .get(self.position)
            .copied()
            .ok_or(Problem::End(self.bytes.len()))
    }

    /// Read a value after optional whitespace; `depth` containers are open.
    fn value(&mut self, depth: usize) -> Result<Value, Problem> {
        self.skip_whitespace();
        match self.current()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => Ok(Value::String(self.string()?)),
            b'-' | b'0'..=b'9' => Ok(Value::Number(self.number()?)),
            b't' => self.word("true", Value::Bool(true)),
            b'f' => self.word("false", Value::Bool(false)),
            b'n' => self.word("null", Value::Null),
            _ => Err(Problem::Syntax(self.position)),
        }
    }

    /// Step past an opening bracket, returning whether the closer follows at once.
    fn open(&mut self, depth: usize, closer: u8) -> Result<bool, Problem> {
        if depth == self.max_depth {
            return Err(Problem::Depth(self.position));
        }
        self.position += 1;
        self.skip_whitespace();
        if self.bytes.get(self.position) == Some(&closer) {
            self.position += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// After a member or element: step past `,` (returns true) or the closer.
    fn separator(&mut self, closer: u8) -> Result<bool, Problem> {
        self.skip_whitespace();
        match self.current()? {
            b',' => {
                self.position += 1;
                Ok(true)
            }
            byte if byte == closer => {
                self.position += 1;
                Ok(false)
            }
            _ => Err(Problem::Syntax(self.position)),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, Problem> {
        let mut elements = Vec::new();
        if self.open(depth, b']')? {
            return Ok(Value::Array(elements));
        }
        loop {
            elements.push(self.value(depth + 1)?);
            if !self.separator(b']')? {
                return Ok(Value::Array(elements));
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, Problem> {
        let mut members = Vec::new();
        if self.open(depth, b'}')? {
            return Ok(Value::Object(members));
        }
        loop {
            // A key, a colon and a value.
            self.skip_whitespace();
            if self.current()? != b'"' {
                return Err(Problem::Syntax(self.position));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.current()? != b':' {
                return Err(Problem::Syntax(self.position));
            }
            self.position += 1;
            let value = self.value(depth + 1)?;
            members.push((key, value));
            if !self.separator(b'}')? {
                break;
            }
        }

        // Objects are checked for duplicates as they end, like Python's
        // `object_pairs_hook`.
        if self.duplicate.is_none() {
            self.duplicate = first_duplicate(&members);
        }
        Ok(Value::Object(members))
    }

    fn word(&mut self, word: &str, value: Value) -> Result<Value, Problem> {
        for expected in word.bytes() {
            let byte = self.current()?;
            if byte != expected {
                return Err(Problem::Syntax(self.position));
            }
            self.position += 1;
        }
        Ok(value)
    }

    fn number(&mut self) -> Result<String, Problem> {
        let start = self.position;

        // Sign and integer part: one zero, or digits without a leading zero.
        if self.bytes[self.position] == b'-' {
            self.position += 1;
        }
        if self.need_digit()? == b'0' {
            self.position += 1;
        } else {
            self.skip_digits();
        }

        // Fraction and exponent.
        if self.bytes.get(self.position) == Some(&b'.') {
            self.position += 1;
            self.need_digit()?;
            self.skip_digits();
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.position) {
            self.position += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.position) {
                self.position += 1;
            }
            self.need_digit()?;
            self.skip_digits();
        }
        Ok(self.text(start, self.position))
    }

    fn need_digit(&self) -> Result<u8, Problem> {
        let byte = self.current()?;
        if byte.is_ascii_digit() {
            Ok(byte)
        } else {
            Err(Problem::Syntax(self.position))
        }
    }

    fn skip_digits(&mut self) {
        while self
            .bytes
            .get(self.position)
            .is_some_and(u8::is_ascii_digit)
        {
            self.position += 1;
        }
    }

    /// Return the text between two offsets, both next to ASCII bytes.
    fn text(&self, start: usize, end: usize) -> String {
        self.source[start..end].to_owned()
    }

    /// Read the string whose opening quote is at the position.
    fn string(&mut self) -> Result<String, Problem> {
        self.position += 1;
        let mut decoded = String::new();
        let mut run_start = self.position;
        loop {
            let byte = self.current()?;
            match byte {
                b'"' => {
                    decoded.push_str(&self.text(run_start, self.position));
                    self.position += 1;
                    return Ok(decoded);
                }
                b'\\' => {
                    decoded.push_str(&self.text(run_start, self.position));
                    self.position += 1;
                    decoded.push(self.escape()?);
                    run_start = self.position;
                }
                0..=0x1f => return Err(Problem::Syntax(self.position)),
                _ => self.position += 1,
            }
        }
    }

    /// Read the escape after a backslash and return the character it stands for.
    fn escape(&mut self) -> Result<char, Problem> {
        let simple = match self.current()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(Problem::Syntax(self.position)),
        };
        self.position += 1;
        Ok(simple)
    }

    /// Read `u` and 4 hex digits, plus a low surrogate escape after a high one.
    fn unicode_escape(&mut self) -> Result<char, Problem> {
        self.position += 1;
        let high = self.hex4(false)?;
        if !(0xD800..=0xDBFF).contains(&high) {
            // Not a surrogate: `hex4` rejects a lone low surrogate.
            return Ok(char::from_u32(high).expect("no surrogate here"));
        }
        for expected in [b'\\', b'u'] {
            if self.current()? != expected {
                return Err(Problem::Syntax(self.position));
            }
            self.position += 1;
        }
        let low = self.hex4(true)?;
        let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        // A surrogate pair always encodes a scalar value above U+FFFF.
        Ok(char::from_u32(code).expect("valid surrogate pair"))
    }

    /// Read 4 hex digits. A low surrogate (DC00-DFFF) is required with
    /// `low_surrogate` and rejected without it, at the digit that decides.
    fn hex4(&mut self, low_surrogate: bool) -> Result<u32, Problem> {
        let start = self.position;
        let mut value = 0;
        for index in 0..4 {
            let byte = self.current()?;
            let Some(digit) = char::from(byte).to_digit(16) else {
                return Err(Problem::Syntax(self.position));
            };
            let first_is_d = matches!(self.bytes[start], b'd' | b'D');
            let second_is_c_to_f = (0xC..=0xF).contains(&digit);
            let bad = if low_surrogate {
                (index == 0 && digit != 0xD) || (index == 1 && !second_is_c_to_f)
            } else {
                index == 1 && first_is_d && second_is_c_to_f
            };
            if bad {
                return Err(Problem::Syntax(self.position));
            }
            value = value * 16 + digit;
            self.position += 1;
        }
        Ok(value)
    }
}

/// Return the first key of `members` that an earlier member already has.
fn first_duplicate(members: &[(String, Value)]) -> Option<String> {
    // Small objects (records) compare pairwise; large ones (runs) hash.
    if members.len() <= 16 {
        for (index, (key, _)) in members.iter().enumerate() {
            if members[..index].iter().any(|(earlier, _)| earlier == key) {
                return Some(key.clone());
            }
        }
        return None;
    }
    let mut seen = std::collections::HashSet::with_capacity(members.len());
    members
        .iter()
        .find(|(key, _)| !seen.insert(key.as_str()))
        .map(|(key, _)| key.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Problem {
        read_document(text, MAX_DEPTH).expect_err(text)
    }

    #[test]
    fn first_invalid_character() {
        let cases: &[(&str, Problem)] = &[
            ("[1,]", Problem::Syntax(3)),
            ("{\"a\" 1}", Problem::Syntax(5)),
            ("{\"a\":1,}", Problem::Syntax(7)),
            ("[01]", Problem::Syntax(2)),
            ("[1.]", Problem::Syntax(3)),
            ("[tru]", Problem::Syntax(4)),
            ("[NaN]", Problem::Syntax(1)),
            ("[-Infinity]", Problem::Syntax(2)),
            ("\u{feff}{}", Problem::Syntax(0)),
            ("\"\\x\"", Problem::Syntax(2)),
            ("{\"a\":\"b\nc\"}", Problem::Syntax(7)),
            ("\"\\ud800\"", Problem::Syntax(7)),
            ("\"\\ud800\\u0041\"", Problem::Syntax(9)),
            ("\"\\udc00\"", Problem::Syntax(4)),
            ("{} {}", Problem::Syntax(3)),
            ("", Problem::End(0)),
            (" \n ", Problem::End(3)),
            ("[tru", Problem::End(4)),
            ("{\"a\":1e", Problem::End(7)),
            ("{\n\"a\":\n", Problem::End(7)),
            ("\"abc", Problem::End(4)),
        ];
        for (text, expected) in cases {
            assert_eq!(&problem(text), expected, "{text:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(problem(&deep), Problem::Depth(MAX_DEPTH));
    }

    #[test]
    fn valid_documents() {
        let nested = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        for text in [
            "{}",
            "[]",
            "{\"a\":[1,-2.5e+3,{\"b\":null}],\"c\":true,\"d\":false}",
            " \t\r\n0 ",
            nested.as_str(),
        ] {
            assert!(read_document(text, MAX_DEPTH).is_ok(), "{text:?}");
        }
        let value = read_document("\"\\ud83d\\ude00 \\u00e9 \\/\"", MAX_DEPTH).unwrap();
        assert_eq!(value, Value::String("\u{1f600} \u{e9} /".to_owned()));
    }

    #[test]
    fn duplicates_after_syntax() {
        assert_eq!(
            problem("{\"a\":1,\"b\":{\"c\":1,\"c\":2},\"a\":2}"),
            Problem::Duplicate("c".to_owned())
        );
        assert_eq!(problem("{\"a\":1,\"a\":2} x"), Problem::Syntax(14));
        assert_eq!(problem("{\"a\":1,\"a\":2,\"b\":NaN}"), Problem::Syntax(17));
    }
}
