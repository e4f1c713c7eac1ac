/* FS.cpp: SPIFFS/LittleFS/File on a directory of the state directory (see FS.h, SPIFFS.h,
 * LittleFS.h). Board paths are absolute ("/index.html"); ".." is refused so a sketch never
 * leaves its partition. */
#include "FS.h"
#include "LittleFS.h"
#include "SPIFFS.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ahk_internal.h"
#include "ahk_runtime.h"

namespace fs {

class FSImpl {
public:
    FSImpl(const char *dir, bool flat) : dir_(dir), flat_(flat) {}
    std::string root() const
    {
        const std::string &b = ahk::options().state_dir;
        return (b.empty() ? std::string(".") : b) + "/" + dir_;
    }
    bool mounted = false;
    std::string dir_;
    bool flat_; /* SPIFFS: no directories */
    /* 1.25 MiB usable of the default scheme's 1.375 MiB SPIFFS partition (approx.) */
    size_t total = 1318001;

    bool host_path(const char *board, std::string &out) const
    {
        if (!board || board[0] != '/')
            return false;
        std::string b = board;
        if (b.find("/../") != std::string::npos || (b.size() >= 3 && b.compare(b.size() - 3, 3, "/..") == 0))
            return false;
        if (flat_ && b.size() - 1 > 31) {
            ahk::log("FS", "SPIFFS: \"%s\": file names are limited to 31 characters", board);
            return false;
        }
        out = root() + b;
        return true;
    }
    size_t used() const;
};

namespace {

void walk(const std::string &host, const std::string &board, bool recurse, std::vector<std::string> &out)
{
    DIR *d = opendir(host.c_str());
    if (!d)
        return;
    std::vector<std::string> names;
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            names.push_back(de->d_name);
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string &n : names) {
        std::string hp = host + "/" + n, bp = (board == "/" ? "" : board) + "/" + n;
        struct stat st;
        if (stat(hp.c_str(), &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && recurse)
            walk(hp, bp, true, out);
        else
            out.push_back(bp);
    }
}

bool mkdir_parents(const std::string &path)
{
    for (size_t i = 1; i < path.size(); i++)
        if (path[i] == '/') {
            std::string p = path.substr(0, i);
            if (mkdir(p.c_str(), 0777) != 0 && errno != EEXIST)
                return false;
        }
    return true;
}

} // namespace

size_t FSImpl::used() const
{
    std::vector<std::string> files;
    walk(root(), "/", true, files);
    size_t n = 0;
    for (const std::string &f : files) {
        struct stat st;
        if (stat((root() + f).c_str(), &st) == 0)
            n += (size_t)st.st_size;
    }
    return n;
}

class FileImpl {
public:
    ~FileImpl() { close(); }
    void close()
    {
        if (f)
            fclose(f);
        f = nullptr;
        open = false;
    }
    FSImpl *fs = nullptr;
    FILE *f = nullptr;
    bool open = false;
    bool is_dir = false;
    bool writable = false;
    std::string board_path, name, host;
    std::vector<std::string> entries; /* directory: board paths */
    size_t next = 0;
};

/* ---- File ---------------------------------------------------------------------- */
File::File(FileImplPtr p) : p_(p) { timeout_ = 0; }

size_t File::write(uint8_t c) { return write(&c, 1); }

size_t File::write(const uint8_t *buf, size_t size)
{
    if (!p_ || !p_->f || !p_->writable)
        return 0;
    if (p_->fs->used() + size > p_->fs->total) {
        ahk::log("FS", "%s: no space left for %zu bytes", p_->board_path.c_str(), size);
        return 0;
    }
    return fwrite(buf, 1, size, p_->f);
}

int File::available()
{
    if (!p_ || !p_->f)
        return 0;
    long pos = ftell(p_->f);
    size_t sz = size();
    return pos >= 0 && (size_t)pos < sz ? (int)(sz - (size_t)pos) : 0;
}

int File::read()
{
    if (!p_ || !p_->f)
        return -1;
    int c = fgetc(p_->f);
    return c == EOF ? -1 : c;
}

int File::peek()
{
    if (!p_ || !p_->f)
        return -1;
    int c = fgetc(p_->f);
    if (c == EOF)
        return -1;
    ungetc(c, p_->f);
    return c;
}

void File::flush()
{
    if (p_ && p_->f)
        fflush(p_->f);
}

size_t File::read(uint8_t *buf, size_t size)
{
    if (!p_ || !p_->f)
        return 0;
    return fread(buf, 1, size, p_->f);
}

bool File::seek(uint32_t pos, SeekMode mode)
{
    if (!p_ || !p_->f)
        return false;
    int whence = mode == SeekCur ? SEEK_CUR : mode == SeekEnd ? SEEK_END : SEEK_SET;
    return fseek(p_->f, (long)pos, whence) == 0;
}

size_t File::position() const
{
    if (!p_ || !p_->f)
        return 0;
    long pos = ftell(p_->f);
    return pos < 0 ? 0 : (size_t)pos;
}

size_t File::size() const
{
    if (!p_ || !p_->f)
        return 0;
    fflush(p_->f);
    struct stat st;
    return fstat(fileno(p_->f), &st) == 0 ? (size_t)st.st_size : 0;
}

bool File::setBufferSize(size_t size) { return p_ && p_->f && setvbuf(p_->f, nullptr, _IOFBF, size) == 0; }

void File::close()
{
    if (p_)
        p_->close();
}

File::operator bool() const { return p_ && p_->open; }

time_t File::getLastWrite()
{
    if (!p_ || !p_->open)
        return 0;
    struct stat st;
    if (stat(p_->host.c_str(), &st) != 0)
        return 0;
    /* the board stamps files with its own clock */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t board_minus_host = ahk::clock_wall_us() / 1000000 - (int64_t)now.tv_sec;
    return (time_t)((int64_t)st.st_mtime + board_minus_host);
}

const char *File::path() const { return p_ && p_->open ? p_->board_path.c_str() : nullptr; }
const char *File::name() const { return p_ && p_->open ? p_->name.c_str() : nullptr; }
boolean File::isDirectory(void) { return p_ && p_->open && p_->is_dir; }

boolean File::seekDir(long position)
{
    if (!p_ || !p_->is_dir || position < 0)
        return false;
    p_->next = (size_t)position;
    return true;
}

File File::openNextFile(const char *mode)
{
    if (!p_ || !p_->is_dir || p_->next >= p_->entries.size())
        return File();
    FS fsys(FSImplPtr(p_->fs, [](FSImpl *) {}));
    return fsys.open(p_->entries[p_->next++].c_str(), mode);
}

String File::getNextFileName(void)
{
    if (!p_ || !p_->is_dir || p_->next >= p_->entries.size())
        return String();
    return String(p_->entries[p_->next++].c_str());
}

String File::getNextFileName(boolean *isDir)
{
    String n = getNextFileName();
    if (isDir) {
        struct stat st;
        std::string hp;
        *isDir = n.length() && p_->fs->host_path(n.c_str(), hp) && stat(hp.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    return n;
}

void File::rewindDirectory(void)
{
    if (p_)
        p_->next = 0;
}

/* ---- FS ------------------------------------------------------------------------ */
File FS::open(const char *path, const char *mode, const bool create)
{
    std::string hp;
    if (!impl_ || !impl_->mounted || !impl_->host_path(path, hp) || !mode)
        return File();
    auto fi = std::make_shared<FileImpl>();
    fi->fs = impl_.get();
    fi->board_path = path;
    size_t slash = fi->board_path.rfind('/');
    fi->name = fi->board_path.size() > 1 ? fi->board_path.substr(slash + 1) : "/";
    fi->host = hp;
    struct stat st;
    bool exists = stat(hp.c_str(), &st) == 0;
    bool reading = mode[0] == 'r' && mode[1] != '+';
    if (exists && S_ISDIR(st.st_mode)) {
        if (!reading)
            return File();
        fi->is_dir = fi->open = true;
        walk(hp, fi->board_path, impl_->flat_, fi->entries);
        return File(fi);
    }
    if (!exists && reading)
        return File();
    if (!exists && !impl_->flat_ && !create) {
        std::string parent = hp.substr(0, hp.rfind('/'));
        if (stat(parent.c_str(), &st) != 0)
            return File();
    }
    if (!exists && (impl_->flat_ || create))
        mkdir_parents(hp);
    std::string m = std::string(mode[0] == 'w' ? "w" : mode[0] == 'a' ? "a" : "r") + (strchr(mode, '+') ? "+" : "") + "b";
    fi->f = fopen(hp.c_str(), m.c_str());
    if (!fi->f)
        return File();
    fi->writable = !reading;
    fi->open = true;
    return File(fi);
}

bool FS::exists(const char *path)
{
    std::string hp;
    struct stat st;
    if (!impl_ || !impl_->mounted || !impl_->host_path(path, hp) || stat(hp.c_str(), &st) != 0)
        return false;
    return !(impl_->flat_ && S_ISDIR(st.st_mode) && strcmp(path, "/") != 0);
}

bool FS::remove(const char *path)
{
    std::string hp;
    struct stat st;
    if (!impl_ || !impl_->mounted || !impl_->host_path(path, hp) || stat(hp.c_str(), &st) != 0 || S_ISDIR(st.st_mode))
        return false;
    return unlink(hp.c_str()) == 0;
}

bool FS::rename(const char *from, const char *to)
{
    std::string a, b;
    if (!impl_ || !impl_->mounted || !impl_->host_path(from, a) || !impl_->host_path(to, b))
        return false;
    if (impl_->flat_)
        mkdir_parents(b);
    return ::rename(a.c_str(), b.c_str()) == 0;
}

bool FS::mkdir(const char *path)
{
    std::string hp;
    if (!impl_ || !impl_->mounted || impl_->flat_ || !impl_->host_path(path, hp))
        return false;
    return ::mkdir(hp.c_str(), 0777) == 0 || errno == EEXIST;
}

bool FS::rmdir(const char *path)
{
    std::string hp;
    if (!impl_ || !impl_->mounted || impl_->flat_ || !impl_->host_path(path, hp))
        return false;
    return ::rmdir(hp.c_str()) == 0;
}

/* ---- the partitions ------------------------------------------------------------ */
namespace {

bool mount(FSImpl &fs, const char *what, bool formatOnFail)
{
    std::string root = fs.root();
    struct stat st;
    if (stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (!formatOnFail) {
            ahk::log("FS", "%s: mount failed: the partition is not formatted (%s does not exist)", what, root.c_str());
            return false;
        }
        ahk::log("FS", "%s: the partition is not formatted: formatting (%s)", what, root.c_str());
        if (::mkdir(root.c_str(), 0777) != 0 && errno != EEXIST)
            return false;
    }
    fs.mounted = true;
    return true;
}

void remove_tree(const std::string &dir)
{
    DIR *d = opendir(dir.c_str());
    if (!d)
        return;
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        std::string p = dir + "/" + de->d_name;
        struct stat st;
        if (lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_tree(p);
            ::rmdir(p.c_str());
        } else {
            unlink(p.c_str());
        }
    }
    closedir(d);
}

} // namespace

static bool format_partition(FSImpl &fs, const char *what)
{
    remove_tree(fs.root());
    ::mkdir(fs.root().c_str(), 0777);
    ahk::log("FS", "%s: formatted", what);
    return true;
}

SPIFFSFS::SPIFFSFS() : FS(std::make_shared<FSImpl>("spiffs", true)) {}
bool SPIFFSFS::begin(bool formatOnFail, const char *, uint8_t, const char *)
{
    return impl_->mounted || mount(*impl_, "SPIFFS", formatOnFail);
}
bool SPIFFSFS::format() { return format_partition(*impl_, "SPIFFS"); }
size_t SPIFFSFS::totalBytes() { return impl_->total; }
size_t SPIFFSFS::usedBytes() { return impl_->mounted ? impl_->used() : 0; }
void SPIFFSFS::end() { impl_->mounted = false; }

LittleFSFS::LittleFSFS() : FS(std::make_shared<FSImpl>("littlefs", false)) {}
bool LittleFSFS::begin(bool formatOnFail, const char *, uint8_t, const char *)
{
    return impl_->mounted || mount(*impl_, "LittleFS", formatOnFail);
}
bool LittleFSFS::format() { return format_partition(*impl_, "LittleFS"); }
size_t LittleFSFS::totalBytes() { return impl_->total; }
size_t LittleFSFS::usedBytes() { return impl_->mounted ? impl_->used() : 0; }
void LittleFSFS::end() { impl_->mounted = false; }

} // namespace fs

fs::SPIFFSFS SPIFFS;
fs::LittleFSFS LittleFS;
