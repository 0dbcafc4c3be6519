// Client side: every interface item is a member of the remote object and takes `&self` or
// `&mut self`.
use rpc_client::interface;

#[interface(name = "Counter")]
pub trait Counter {
    fn new(start: i64) -> Self;
}

fn main() {}
