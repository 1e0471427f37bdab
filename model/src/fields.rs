//! Reads a JSON object field by field, collecting every problem instead of stopping at the first.

use serde_json::{Map, Value};
use validator::ValidateLength;

use crate::error::{FieldError, Invalid};

pub(crate) struct Fields<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// Starts reading `value` as an object with exactly the `known` fields: unknown ones are
    /// errors, so a misspelt field never silently drops data.
    pub(crate) fn new(value: &'a Value, known: &[&str]) -> Result<Self, Invalid> {
        let Value::Object(object) = value else {
            return Err(Invalid::here(format!(
                "must be a JSON object, found {}",
                kind_of(value)
            )));
        };
        let errors = object
            .keys()
            .filter(|key| !known.contains(&key.as_str()))
            .map(|key| FieldError {
                field: key.clone(),
                message: "unknown field".into(),
            })
            .collect();
        Ok(Self { object, errors })
    }

    /// A field that must be present and not null.
    pub(crate) fn required<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, Invalid>,
    ) -> Option<T> {
        match self.object.get(name) {
            None | Some(Value::Null) => {
                self.report(Invalid::at(name, "is required"));
                None
            }
            Some(value) => self.parsed(name, parse(value)),
        }
    }

    /// A field that may be absent or null: `Some(None)` then, `None` only when it failed.
    pub(crate) fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, Invalid>,
    ) -> Option<Option<T>> {
        match self.object.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(value) => self.parsed(name, parse(value)).map(Some),
        }
    }

    /// Records a rule that spans fields, once each field parsed on its own.
    pub(crate) fn report(&mut self, error: Invalid) {
        self.errors.extend(error.errors);
    }

    /// Every problem found, or `Ok` when there was none.
    pub(crate) fn finish(self) -> Result<(), Invalid> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Invalid {
                errors: self.errors,
            })
        }
    }

    fn parsed<T>(&mut self, name: &str, result: Result<T, Invalid>) -> Option<T> {
        result.map_err(|e| self.report(e.nest(name))).ok()
    }
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn string(value: &Value) -> Result<&str, Invalid> {
    value
        .as_str()
        .ok_or_else(|| Invalid::here(format!("must be a string, found {}", kind_of(value))))
}

/// Trimmed text of 1 to `max` characters.
/// NUL is refused: no name holds one, and PostgreSQL cannot store it in text, so taking it
/// would make the contract depend on the database.
pub(crate) fn text(value: &Value, max: u64) -> Result<String, Invalid> {
    let trimmed = string(value)?.trim();
    if !trimmed.validate_length(Some(1), Some(max), None) {
        return Err(Invalid::here(format!(
            "must be 1 to {max} characters after trimming"
        )));
    }
    if trimmed.contains('\0') {
        return Err(Invalid::here("must not contain the NUL character (U+0000)"));
    }
    Ok(trimmed.to_owned())
}

pub(crate) fn integer(value: &Value) -> Result<i64, Invalid> {
    match value {
        Value::Number(n) if n.is_i64() => Ok(n.as_i64().unwrap_or_default()),
        Value::Number(n) if n.is_u64() => Err("is too large for a 64-bit integer".into()),
        _ => Err(Invalid::here(format!(
            "must be an integer, found {}",
            kind_of(value)
        ))),
    }
}

pub(crate) fn array(value: &Value) -> Result<&Vec<Value>, Invalid> {
    value
        .as_array()
        .ok_or_else(|| Invalid::here(format!("must be an array, found {}", kind_of(value))))
}

/// Parses each element, naming failures by index, and reports them all.
pub(crate) fn each<I, T>(
    items: impl IntoIterator<Item = I>,
    mut parse: impl FnMut(I) -> Result<T, Invalid>,
) -> Result<Vec<T>, Invalid> {
    let items = items.into_iter();
    let mut parsed = Vec::with_capacity(items.size_hint().0);
    let mut errors = Vec::new();
    for (index, item) in items.enumerate() {
        match parse(item) {
            Ok(value) => parsed.push(value),
            Err(e) => errors.extend(e.nest(&format!("[{index}]")).errors),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(Invalid { errors })
    }
}
