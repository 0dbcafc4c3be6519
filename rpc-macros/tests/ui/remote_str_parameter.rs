// Server side: arguments arrive by value, so a `&str` parameter is an unsupported type.
use rpc_server::remote;

#[remote]
pub struct Counter {
    pub value: i64,
}

#[remote]
impl Counter {
    pub fn add_parsed(&mut self, step: &str) -> i64 {
        self.value += step.len() as i64;
        self.value
    }
}

fn main() {}
