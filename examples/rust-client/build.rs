//! The derive macros read `schema.graphql` and `queries/` at compile time;
//! cargo must rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=../../schema.graphql");
    println!("cargo:rerun-if-changed=queries");
}
