// Server side: a public fn without `self` cannot be called on an object.
use rpc_server::remote;

#[remote]
pub struct Counter {
    pub value: i64,
}

#[remote]
impl Counter {
    pub fn reset_all() {}
}

fn main() {}
