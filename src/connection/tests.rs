#[test]
fn size() { extern crate std; std::println!("SIZE {}", core::mem::size_of::<super::Connection>()); }
