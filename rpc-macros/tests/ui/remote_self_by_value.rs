// Server side: a method taking `self` by value would consume the object the server keeps.
use rpc_server::remote;

#[remote]
pub struct Counter {
    pub value: i64,
}

#[remote]
impl Counter {
    pub fn into_value(self) -> i64 {
        self.value
    }
}

fn main() {}
