//! The properties the targets check: the very file `tests/parser_properties.rs` uses, so the
//! fuzzer and the property tests can never drift apart.

#[path = "../../tests/parser_checks/mod.rs"]
pub mod checks;
