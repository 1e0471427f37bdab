//! Writes the api's OpenAPI document to stdout: `cargo run -p api --bin api-openapi > openapi.json`
//! regenerates the committed copy at the repository root.

use std::io::Write;

fn main() -> std::io::Result<()> {
    std::io::stdout().write_all(api::openapi::document_json().as_bytes())
}
