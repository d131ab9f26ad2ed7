// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Token} from "./Token.sol";

/// @title FeeToken — HOSTILE fixture: an ERC-20 that burns 1 % of every
/// transfer, so the recipient gets less than the amount named.
contract FeeToken is Token {
    constructor(string memory name_, string memory symbol_, uint8 decimals_, address initialHolder, uint256 supply)
        Token(name_, symbol_, decimals_, initialHolder, supply)
    {}

    function _transfer(address from, address to, uint256 value) internal override {
        require(to != address(0), "ERC20: to zero");
        uint256 bal = balanceOf[from];
        require(bal >= value, "ERC20: balance");
        uint256 fee = value / 100;
        balanceOf[from] = bal - value;
        balanceOf[to] += value - fee;
        totalSupply -= fee;
        emit Transfer(from, to, value - fee);
        if (fee != 0) emit Transfer(from, address(0), fee);
    }
}
