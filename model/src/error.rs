use serde::Serialize;
use utoipa::ToSchema;

/// One failing field: `field` is a path into the request body (`selections[1].odds`, `[3].country`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A request body that failed parsing; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid field(s), first `{}`: {}", .errors.len(), .errors[0].field, .errors[0].message)]
pub struct Invalid {
    pub errors: Vec<FieldError>,
}

impl Invalid {
    /// An error about the value itself, before it is placed in a body by [`Invalid::nest`].
    pub fn here(message: impl Into<String>) -> Self {
        Self::at("", message)
    }

    pub fn at(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }

    /// Places errors reported relative to a value under the path of that value.
    pub fn nest(mut self, parent: &str) -> Self {
        for error in &mut self.errors {
            error.field = join_path(parent, &error.field);
        }
        self
    }

    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.errors.iter().map(|e| e.field.as_str())
    }
}

impl From<String> for Invalid {
    fn from(message: String) -> Self {
        Self::here(message)
    }
}

impl From<&str> for Invalid {
    fn from(message: &str) -> Self {
        Self::here(message)
    }
}

/// `join_path("selections", "[1].odds")` is `selections[1].odds`; `join_path("[2]", "id")` is `[2].id`.
pub(crate) fn join_path(parent: &str, child: &str) -> String {
    match (parent.is_empty(), child.is_empty()) {
        (true, _) => child.to_owned(),
        (_, true) => parent.to_owned(),
        _ if child.starts_with('[') => format!("{parent}{child}"),
        _ => format!("{parent}.{child}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_builds_paths_like_a_client_writes_them() {
        let error = Invalid::at("[1].odds", "too low")
            .nest("selections")
            .nest("[0]");
        assert_eq!(error.errors[0].field, "[0].selections[1].odds");
        assert_eq!(Invalid::here("x").nest("stake").errors[0].field, "stake");
    }
}
