// Client side: arguments are checked against the declared parameter types.
use rpc_client::interface;

#[interface(name = "Counter")]
pub trait Counter {
    fn add(&mut self, n: i64) -> i64;
}

async fn use_it(counter: &CounterProxy) {
    let _ = counter.add("five").await;
}

fn main() {
    let _ = use_it;
}
