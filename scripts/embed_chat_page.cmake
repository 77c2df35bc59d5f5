# Writes OUT, a C++ file defining purelm::server::chat_page_html() as the bytes of IN.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT}
     "// Generated from src/purelm/server/chat.html by scripts/embed_chat_page.cmake.\n"
     "#include \"purelm/server/chat_page.h\"\n"
     "namespace purelm::server {\n"
     "namespace {\nconst unsigned char kPage[] = {${bytes}};\n}  // namespace\n"
     "std::string_view chat_page_html() {\n"
     "  return {reinterpret_cast<const char*>(kPage), sizeof kPage};\n}\n"
     "}  // namespace purelm::server\n")
