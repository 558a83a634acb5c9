// users_file: reading, checking and durably writing the users file (see users_file.hpp).
#include "core/auth/users_file.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/auth/password_hash.hpp"
#include "core/config/config_error.hpp"
#include "core/util/durable_file.hpp"

namespace relayguard::auth {
namespace {

FileStamp stampFrom(const struct stat& st) {
  FileStamp s;
  s.device = static_cast<std::uint64_t>(st.st_dev);
  s.inode = static_cast<std::uint64_t>(st.st_ino);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.size = static_cast<std::int64_t>(st.st_size);
  return s;
}

// Reads the whole file through one descriptor, refusing it when group or others have access.
std::optional<std::string> readPrivate(const std::filesystem::path& file, FileStamp& stamp) {
  const SourcePosition where{file};
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      return std::nullopt;
    }
    throw ConfigError(where, std::string("cannot read the users file: ") + std::strerror(errno));
  }
  struct stat st {};
  std::string data;
  int err = 0;
  if (::fstat(fd, &st) != 0) {
    err = errno;
  } else if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ConfigError(where, "the users file is not a regular file");
  } else if ((st.st_mode & 077) != 0) {
    ::close(fd);
    throw ConfigError(where,
                      "the users file is readable or writable by group or others; it holds "
                      "password hashes (chmod 600 it)");
  } else {
    char buf[8192];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        err = errno;
        break;
      }
      if (n == 0) {
        break;
      }
      data.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  if (err != 0) {
    throw ConfigError(where, std::string("cannot read the users file: ") + std::strerror(err));
  }
  stamp = stampFrom(st);
  return data;
}

}  // namespace

bool UsersFile::validName(std::string_view name) {
  if (name.empty() || name.size() > 255) {
    return false;
  }
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == ':') {
      return false;
    }
  }
  return true;
}

FileStamp UsersFile::stampOf(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return FileStamp{};
  }
  return stampFrom(st);
}

UsersFile UsersFile::load(const std::filesystem::path& file) {
  UsersFile users;
  const auto data = readPrivate(file, users.stamp_);
  if (!data) {
    return users;
  }
  std::size_t pos = 0;
  unsigned line_no = 0;
  while (pos < data->size()) {
    ++line_no;
    auto end = data->find('\n', pos);
    if (end == std::string::npos) {
      end = data->size();
    }
    std::string_view line(data->data() + pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const SourcePosition where{file, line_no, 1};
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      throw ConfigError(where, "expected NAME:HASH (write this file with `relayguard user add`)");
    }
    const std::string name(line.substr(0, colon));
    const std::string_view hash = line.substr(colon + 1);
    if (!validName(name)) {
      throw ConfigError(where, "'" + name + "' is not a valid user name");
    }
    if (!isPasswordHash(hash)) {
      throw ConfigError(SourcePosition{file, line_no, static_cast<unsigned>(colon + 2)},
                        "the hash of user '" + name + "' is not an argon2id PHC string");
    }
    if (!users.users_.emplace(name, std::string(hash)).second) {
      throw ConfigError(where, "user '" + name + "' is listed twice");
    }
  }
  return users;
}

const std::string* UsersFile::hashFor(std::string_view name) const {
  const auto it = users_.find(name);
  return it == users_.end() ? nullptr : &it->second;
}

bool UsersFile::set(const std::string& name, std::string phc) {
  auto [it, inserted] = users_.insert_or_assign(name, std::move(phc));
  (void)it;
  return inserted;
}

bool UsersFile::remove(std::string_view name) {
  const auto it = users_.find(name);
  if (it == users_.end()) {
    return false;
  }
  users_.erase(it);
  return true;
}

void UsersFile::save(const std::filesystem::path& file) const {
  std::string out =
      "# relayguard SMTP AUTH users: NAME:argon2id-hash, one a line.\n"
      "# Written by `relayguard user add` / `user delete`; keep it mode 0600.\n";
  for (const auto& [name, phc] : users_) {
    out += name + ":" + phc + "\n";
  }
  auto tmp = file;
  tmp += ".tmp";
  ::unlink(tmp.c_str());  // a leftover from a crash: recreate it with mode 0600
  writeFileDurably(tmp, file, out, 0600);
}

}  // namespace relayguard::auth
