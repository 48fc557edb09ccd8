#include "mmhook/data/mnist.h"

#include <sys/stat.h>
#include <zlib.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include "mmhook/core/file_io.h"

namespace mmhook {
namespace {

// Anything at `path` (a folder or FIFO too: the reader then names what it is).
bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// `<root>/<name>` if present, else `<root>/<name>.gz`; an Error when neither exists.
std::string find_idx_file(const std::string& root, const std::string& name) {
  std::string plain = root + "/" + name;
  if (file_exists(plain)) return plain;
  if (file_exists(plain + ".gz")) return plain + ".gz";
  MMHOOK_THROW(Code::kIo, "cannot read dataset file ", plain, "(.gz): missing (no such file)");
}

// The most data an idx file may declare: 16 GiB (Fashion-MNIST's training images are 47 MB).
constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 34;
// Deflate cannot expand one input byte to more than 1032 output bytes (a 258-byte match coded
// in 2 bits), so a gzip file of n bytes decompresses to at most 1032 n bytes; a plain file
// (zlib reads it as is) to exactly n.
constexpr uint64_t kMaxDeflateRatio = 1032;

class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    RegularFile file;
    const FileProblem problem =
        open_regular_file(path, {kMaxIdxBytes + 1024, "the idx reader (16 GiB)"}, file);
    if (!problem.ok())
      MMHOOK_THROW(Code::kIo, "cannot read dataset file ", path, ": ", problem.reason);
    file_size_ = file.size();
    errno = 0;
    // On success gzdopen owns the descriptor (gzclose closes it).
    file_ = gzdopen(file.fd(), "rb");
    if (file_ == nullptr)
      MMHOOK_THROW(Code::kIo, "cannot read dataset file ", path, ": ",
                   errno != 0 ? std::strerror(errno) : "cannot open");
    (void)file.release();
  }
  ~GzFile() { gzclose(file_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // The size of the file on disk (compressed, for a gzip file).
  uint64_t file_size() const { return file_size_; }
  // True for a gzip file, false for a plain one (read as is).
  bool compressed() { return gzdirect(file_) == 0; }

  // Reads exactly `n` bytes; fewer is a "truncated" Error naming `what`.
  void read(void* dst, size_t n, const char* what) {
    const size_t done = read_some(dst, n, what);
    if (done < n)
      MMHOOK_THROW(Code::kIo, "cannot read dataset file ", path_, ": truncated (", what,
                   ": expected ", n, " bytes, got ", done, ")");
  }

  // Reads up to `n` bytes (fewer only at the end of the file); a zlib error (corrupt data, CRC
  // mismatch, truncated stream) is an Error naming `what`.
  size_t read_some(void* dst, size_t n, const char* what) {
    char* p = static_cast<char*>(dst);
    size_t done = 0;
    while (done < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
      const int got = gzread(file_, p + done, chunk);
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(file_, &code);
        MMHOOK_THROW(Code::kIo, "cannot read dataset file ", path_, ": corrupt or truncated (", msg,
                     ") while reading ", what);
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
  uint64_t file_size_ = 0;
};

uint32_t big_endian(const unsigned char* b) {
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
}

/// Gives free heap memory back to the system. The engine raises glibc's trim threshold so that
/// per-iteration buffers are not unmapped and faulted in again each step; loading a dataset
/// frees its read buffers and transform temporaries once, and without this they would stay
/// resident for the whole run.
void release_free_heap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

std::vector<std::string> fashion_classes() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

std::vector<std::string> mnist_classes() {
  return {"0 - zero", "1 - one", "2 - two",   "3 - three", "4 - four",
          "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"};
}

}  // namespace

at::Tensor read_idx_file(const std::string& path, uint32_t expected_magic) {
  GzFile file(path);
  unsigned char header[4];
  const size_t header_bytes = file.read_some(header, 4, "header");
  if (header_bytes == 0)
    MMHOOK_THROW(Code::kIo, "cannot read dataset file ", path, ": file is empty");
  if (header_bytes < 4)
    MMHOOK_THROW(Code::kIo, "cannot read dataset file ", path,
                 ": truncated (header: expected 4 "
                 "bytes, got ",
                 header_bytes, ")");
  const uint32_t magic = big_endian(header);
  if (magic != expected_magic)
    MMHOOK_THROW(Code::kIo, "cannot read dataset file ", path, ": bad magic number 0x", std::hex,
                 magic, " (expected 0x", expected_magic, "; wrong format or not an idx file)");
  const int ndims = header[3];
  std::vector<int64_t> dims(ndims);
  // The header is untrusted. It fixes the exact size of the file's content (header + data), so
  // the reader never holds more than that: the data is read in 1 MiB chunks that exist only for
  // bytes actually present, a header declaring more than 16 GiB or more than the file could
  // decompress to is refused before any allocation, and a stream that goes on past the declared
  // size (a decompression bomb) is refused after one byte more.
  uint64_t total = 1;
  for (int i = 0; i < ndims; ++i) {
    unsigned char b[4];
    file.read(b, 4, "dimensions");
    dims[i] = big_endian(b);
    if (dims[i] != 0 && total > kMaxIdxBytes / static_cast<uint64_t>(dims[i]))
      MMHOOK_THROW(Code::kIo, "cannot read dataset file ", path,
                   ": implausible dimensions in the header (more than 2^34 bytes of data; corrupt "
                   "file)");
    total *= static_cast<uint64_t>(dims[i]);
  }
  const uint64_t declared = 4 + 4 * static_cast<uint64_t>(ndims) + total;
  const bool compressed = file.compressed();
  const uint64_t can_hold = compressed ? kMaxDeflateRatio * file.file_size() : file.file_size();
  if (declared > can_hold)
    MMHOOK_THROW(Code::kIo, "cannot read dataset file ", path,
                 ": truncated (data: the header declares ", declared, " bytes, more than the ",
                 file.file_size(), "-byte file ", compressed ? "can decompress to" : "holds", ")");
  constexpr size_t kChunk = size_t{1} << 20;
  std::vector<std::vector<uint8_t>> chunks;
  uint64_t have = 0;
  try {
    while (have < total) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, total - have));
      chunks.emplace_back(n);
      const size_t got = file.read_some(chunks.back().data(), n, "data");
      have += got;
      if (got < n)
        MMHOOK_THROW(Code::kIo, "cannot read dataset file ", path, ": truncated (data: expected ",
                     total, " bytes, got ", have, ")");
    }
  } catch (const std::bad_alloc&) {
    MMHOOK_THROW(Code::kOom, "cannot read dataset file ", path, ": out of memory after ", have,
                 " of the ", total, " bytes of data its header declares");
  }
  // Reading past the end makes zlib verify the gzip CRC, which catches flipped bits that still
  // inflate; bytes after the data mean the header does not describe the file.
  unsigned char extra;
  if (file.read_some(&extra, 1, "end of file") != 0)
    MMHOOK_THROW(Code::kIo, "cannot read dataset file ", path,
                 ": trailing bytes: ", compressed ? "decompresses to" : "holds", " more than the ",
                 declared, " bytes its header declares (wrong format, or a decompression bomb)");
  at::Tensor out;
  try {
    out = at::empty(dims, at::kByte);
  } catch (const std::exception&) {
    MMHOOK_THROW(Code::kOom, "cannot read dataset file ", path, ": out of memory for the ", total,
                 " bytes of data its header declares");
  }
  // Chunk by chunk, each freed once copied: resident memory peaks near the data size, not twice it.
  auto* dst = out.data_ptr<uint8_t>();
  for (auto& chunk : chunks) {
    std::memcpy(dst, chunk.data(), chunk.size());
    dst += chunk.size();
    std::vector<uint8_t>().swap(chunk);
  }
  release_free_heap();
  return out;
}

MNIST::MNIST(MNISTOptions options) : MNIST(std::move(options), kDefaultRoot, mnist_classes()) {}

MNIST::MNIST(MNISTOptions options, const char* default_root, std::vector<std::string> classes)
    : options_(std::move(options)), classes_(std::move(classes)) {
  if (options_.data_root.empty()) options_.data_root = default_root;
  const std::string split = options_.test_mode ? "t10k" : "train";
  const std::string image_file = find_idx_file(options_.data_root, split + "-images-idx3-ubyte");
  const std::string label_file = find_idx_file(options_.data_root, split + "-labels-idx1-ubyte");
  at::Tensor images = read_idx_file(image_file, 0x803);
  at::Tensor labels = read_idx_file(label_file, 0x801);
  if (images.dim() != 3)
    MMHOOK_THROW(Code::kIo, "cannot read dataset file ", image_file,
                 ": expected 3 dimensions, got ", images.dim());
  if (labels.dim() != 1)
    MMHOOK_THROW(Code::kIo, "cannot read dataset file ", label_file, ": expected 1 dimension, got ",
                 labels.dim());
  if (images.size(0) != labels.size(0))
    MMHOOK_THROW(Code::kIo, "dataset files disagree: count mismatch (", image_file, " has ",
                 images.size(0), " images, ", label_file, " has ", labels.size(0), " labels)");
  // A label outside the class list would surface much later, as an index error deep inside a
  // loss or metric; the file and sample are known only here.
  const auto* label = labels.data_ptr<uint8_t>();
  for (int64_t i = 0; i < labels.size(0); ++i)
    if (static_cast<size_t>(label[i]) >= classes_.size())
      MMHOOK_THROW(Code::kIo, "cannot read dataset file ", label_file, ": label ", int{label[i]},
                   " of sample ", i, " is out of range (", classes_.size(),
                   " classes: expected 0 to ", classes_.size() - 1, ")");
  images_ = images.unsqueeze(1).contiguous();
  labels_ = labels.to(at::kLong);
  for (const auto& t : options_.transforms) deterministic_ = deterministic_ && t->deterministic();
  if (deterministic_ && options_.cache_transformed) cache_transformed_images();
}

void MNIST::cache_transformed_images() {
  // The same ops as get_batch, a chunk of images at a time, converted straight into one
  // preallocated tensor: a transform's temporaries (Normalize makes two) are a chunk's size
  // (256 images, 0.8 MB), so resident memory peaks at the cache plus the raw bytes, as a hand
  // written loop's `images.to(kFloat)` does. Elementwise ops give the same values whatever the
  // chunking.
  constexpr int64_t kChunk = 256;
  const int64_t n = images_.size(0);
  at::Tensor cache = at::empty(images_.sizes(), at::kFloat);
  std::mt19937_64 unused(0);
  for (int64_t begin = 0; begin < n; begin += kChunk) {
    const int64_t len = std::min(kChunk, n - begin);
    at::Tensor dst = cache.narrow(0, begin, len);
    dst.copy_(images_.narrow(0, begin, len)).div_(255.0);
    at::Tensor chunk = dst;
    for (const auto& t : options_.transforms) chunk = t->apply(chunk, unused);
    MMHOOK_CHECK(chunk.sizes() == dst.sizes(),
                 "a deterministic transform changed the image shape from ", dst.sizes(), " to ",
                 chunk.sizes(), " (set cache_transformed to false)");
    if (!chunk.is_same(dst)) dst.copy_(chunk);
  }
  transformed_ = std::move(cache);
  // Batches come from the cache alone: the uint8 copy would only take memory.
  images_ = at::Tensor();
  release_free_heap();
}

int64_t MNIST::size() const { return labels_.size(0); }

TensorDict MNIST::get(int64_t index, uint64_t sample_seed) const {
  MMHOOK_CHECK(index >= 0 && index < size(), "MNIST: index ", index, " out of range [0, ", size(),
               ")");
  at::Tensor image;
  if (transformed_.defined()) {
    image = transformed_[index].clone();  // a copy: the caller may modify it in place
  } else {
    image = images_[index].to(at::kFloat).div_(255.0);
    if (!options_.transforms.empty())
      image = apply_transforms(options_.transforms, image, sample_seed);
  }
  TensorDict out;
  out.set("inputs", image);
  out.set("targets", labels_[index]);
  return out;
}

TensorDict MNIST::get_batch(const std::vector<int64_t>& indices,
                            const std::vector<uint64_t>& sample_seeds) const {
  if (!deterministic_) return Dataset::get_batch(indices, sample_seeds);
  MMHOOK_CHECK(indices.size() == sample_seeds.size(), "MNIST::get_batch: ", indices.size(),
               " indices but ", sample_seeds.size(), " seeds");
  for (int64_t i : indices)
    MMHOOK_CHECK(i >= 0 && i < size(), "MNIST: index ", i, " out of range [0, ", size(), ")");
  at::Tensor idx = at::from_blob(const_cast<int64_t*>(indices.data()),
                                 {static_cast<int64_t>(indices.size())}, at::kLong);
  at::Tensor images;
  if (transformed_.defined()) {
    images = transformed_.index_select(0, idx);
  } else {
    images = images_.index_select(0, idx).to(at::kFloat).div_(255.0);
    std::mt19937_64 unused(0);
    for (const auto& t : options_.transforms) images = t->apply(images, unused);
  }
  TensorDict out;
  out.set("inputs", images);
  out.set("targets", labels_.index_select(0, idx));
  return out;
}

nlohmann::json MNIST::metainfo() const { return {{"classes", classes_}}; }

FashionMNIST::FashionMNIST(MNISTOptions options)
    : MNIST(std::move(options), kDefaultRoot, fashion_classes()) {}

}  // namespace mmhook
