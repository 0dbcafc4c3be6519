// Client side: parameters are owned data, `&str` or `&SomethingProxy`; both errors are
// reported at once.
use rpc_client::interface;

#[interface(name = "Store")]
pub trait Store {
    fn put(&mut self, bytes: &[u8]) -> u64;
    fn put_text(&mut self, text: impl AsRef<str>) -> u64;
}

fn main() {}
