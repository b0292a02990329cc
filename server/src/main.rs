fn main() {
    println!("portcullis");
}
